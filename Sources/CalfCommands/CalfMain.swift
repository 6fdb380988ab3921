import ArgumentParser
import Foundation
import Calf
import CalfGraphs
import Logging
import Synchronization

/// The behaviors of the running program (set by `CalfMain.run`).
let registeredBehaviors = Mutex(BehaviorRegistry())

/// The command-line entry point of calf for a program of one's own: it
/// hands its behaviors over and gets every `calf` command (`node`, `shell`,
/// `bench`, `version`) with its tree files able to name them.
///
/// ```swift
/// // Sources/mynode/main.swift
/// import CalfCommands
/// await CalfMain.run(BehaviorRegistry(durable: [Account.self], transient: [Greeter.self]))
/// ```
/// Then `mynode node --data data Supervisors/mytree.yaml` and `mynode shell --data data`.
public enum CalfMain {
    /// Parses the command line (or `arguments`) and runs the command; exits
    /// the process with the command's status.
    public static func run(_ behaviors: BehaviorRegistry, arguments: [String]? = nil) async -> Never {
        // Every node can run graphs (graph files, `- graph:` children).
        var behaviors = behaviors
        if !behaviors.durable.contains(where: { $0 == GraphProcess.self }) { behaviors.durable.append(GraphProcess.self) }
        registeredBehaviors.withLock { $0 = behaviors }
        // The node's log goes to standard error, from info up (CALF_LOG_LEVEL=debug|…|critical to change).
        let level = ProcessInfo.processInfo.environment["CALF_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            var command = try CalfCommand.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            CalfCommand.exit()
        } catch {
            CalfCommand.exit(withError: error)
        }
    }
}
