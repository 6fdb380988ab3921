import ArgumentParser
import Calf
import CalfGraphs
import Foundation

/// `calf graph`: graphs of jobs, daemons and watched files, without a node.
struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Work with graph files (jobs, daemons and watched files) without a node.",
        subcommands: [GraphCheckCommand.self]
    )
}

/// `calf graph check FILE`: reads and checks a graph file as a node would
/// (for CI): every problem with file:line:column, exit status 1 if any.
struct GraphCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a graph file: every problem with file:line:column; exit status 1 if there is one."
    )

    @Argument(help: "The graph file (a YAML file whose root is 'graph: ID').")
    var file: String

    func run() throws {
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            FileHandle.standardError.write(Data("calf graph check: cannot read \(file): \(error.localizedDescription)\n".utf8))
            throw ExitCode(1)
        }
        let behaviors = Set(GraphFile.workers(registeredBehaviors.withLock { $0.durable }).keys)
        do {
            let checked = try GraphFile(path: file, text: text, behaviors: behaviors)
            let graph = checked.spec
            for note in checked.notes { print("note: \(note)") }
            let kinds = Dictionary(grouping: graph.tasks, by: \.kind)
            let counts = [TaskKind.job, .daemon, .worker].compactMap { kind in kinds[kind].map { "\($0.count) \(kind.rawValue)\($0.count == 1 ? "" : "s")" } }
            print("\(file): graph \(graph.id): \(counts.joined(separator: ", ")), \(graph.watches.count) watch set\(graph.watches.count == 1 ? "" : "s"): no problem")
        } catch {
            FileHandle.standardError.write(Data((error.description + "\n").utf8))
            throw ExitCode(1)
        }
    }
}
