import ArgumentParser
import Calf
import CalfShell
import Foundation

/// `calf journal`: reads a data directory's journal without a node
/// (read-only; a running node may be using it).
struct JournalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "journal",
        abstract: "Print the journal of a data directory, of one process or of all, without a node.",
        discussion: "Read-only: works on a stopped node's directory and beside a running node."
    )

    @Option(name: .long, help: "The data directory.")
    var data: String

    @Argument(help: "A registered name or a pid (default: every process).")
    var process: String?

    @Option(name: .long, help: "The first seq to print.")
    var from: UInt64 = 0

    @Option(name: .long, help: "How many records at most.")
    var limit = 1000

    @Flag(name: .long, help: "Print the records as JSON.")
    var json = false

    func run() throws {
        guard limit > 0 else { throw ValidationError("--limit must be positive") }
        guard FileManager.default.fileExists(atPath: data + "/data.mdb") else {
            throw ValidationError("no journal in \(data) (no data.mdb)")
        }
        let entries: [JournalEntry]
        do {
            entries = try OfflineJournal.entries(
                dataDirectory: data, of: process, from: from, limit: limit,
                behaviors: registeredBehaviors.withLock { $0.durable })
        } catch {
            FileHandle.standardError.write(Data("calf journal: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: try ControlProtocol.encode(entries), as: UTF8.self))
        } else {
            print(ShellFormat.journal(entries, withPid: process == nil))
        }
    }
}
