import ArgumentParser
import Calf

/// The `calf` command-line tool (run through `CalfMain.run`).
struct CalfCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calf",
        abstract: "Calf: an Erlang-style actor runtime for Swift.",
        version: Calf.version,
        subcommands: [NodeCommand.self, ShellCommand.self, JournalCommand.self, FlowsCommand.self, GraphCommand.self, VersionCommand.self, BenchCommand.self]
    )
}

/// `calf version`: prints the version of Calf and of the libraries it runs on.
struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version.")

    func run() {
        print("calf \(Calf.version) (libuv \(Calf.libuvVersion))")
    }
}
