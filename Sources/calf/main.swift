import Bank
import Calf
import CalfCommands
import Demo
import RemoteJob

// The calf tool: calf's commands with the example behaviors its tree files name.
await CalfMain.run(Bank.registry + Demo.registry + RemoteJobExample.registry)
