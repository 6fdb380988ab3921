import Bank
import CMimalloc
import Calf
import CalfCommands
import Demo
import DevLoop
import RemoteJob

// The allocator is mimalloc (see Package.swift's CMimalloc): this reference
// keeps the library linked, and so keeps its malloc in front of glibc's.
_ = mi_version()

// The calf tool: calf's commands with the example behaviors its tree files name.
await CalfMain.run(Bank.registry + Demo.registry + RemoteJobExample.registry + DevLoopExample.registry)
