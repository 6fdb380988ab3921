print("calf")
