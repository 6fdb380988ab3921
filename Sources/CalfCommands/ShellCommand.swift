import ArgumentParser
import CalfShell
import Foundation

/// `calf shell`: talks to a running node over its control socket, line by
/// line from a terminal (editing, history, completion), from `-c`, or from
/// standard input.
struct ShellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "Run commands against a running node (interactively, or with -c).",
        discussion: "Commands:\n" + (ShellHelp.text() ?? "")
    )

    @Option(name: .long, help: "The node's data directory.")
    var data: String

    @Option(name: .short, help: "A command to run (repeatable); exits non-zero on the first error.")
    var command: [String] = []

    @Flag(name: .long, help: "Print answers as JSON (machine-readable) instead of tables.")
    var json = false

    @Flag(name: .long, help: "Read the data directory of a stopped (or running) node instead of attaching to it.")
    var offline = false

    func run() throws {
        var inspected: OfflineNode?
        if offline {
            let copy = try OfflineNode(dataDirectory: data, behaviors: registeredBehaviors.withLock { $0.durable })
            for (pid, reason) in copy.quarantined.sorted(by: { $0.key < $1.key }) {
                FileHandle.standardError.write(Data("calf shell: \(pid) quarantined: \(reason)\n".utf8))
            }
            inspected = copy
        }
        defer { inspected?.close() }
        let session = ShellSession(dataDirectory: inspected?.directory ?? data, json: json, offline: offline)
        if !command.isEmpty {
            for line in command {
                if Self.isQuit(line) { return }
                let status = session.run(line)
                if status != 0 { throw ExitCode(status) }
            }
            return
        }
        let terminal = Terminal()
        guard terminal.isInteractive else {
            // Lines from a pipe or a file: run like -c, stopping at the first error.
            while let line = readLine() {
                if Self.isQuit(line) { return }
                let status = session.run(line)
                if status != 0 { throw ExitCode(status) }
            }
            return
        }
        try interact(session, terminal: terminal)
    }

    /// `quit` or `exit`: the shell ends there.
    static func isQuit(_ line: String) -> Bool {
        (try? ShellLine.command(line)) == .quit
    }

    /// The interactive shell: a prompt, line editing, history, completion.
    private func interact(_ session: ShellSession, terminal: Terminal) throws {
        do {
            _ = try session.attached()
        } catch {
            FileHandle.standardError.write(Data("calf shell: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let what = offline ? "the data directory \(data), offline (read-only; nothing runs)" : "the node at \(data)"
        print("attached to \(what) (help lists the commands, Tab completes, Ctrl-D leaves)")
        let editor = LineEditor(terminal: terminal, history: ShellHistory(path: ShellHistory.defaultPath)) { session.completionNames() }
        while true {
            fflush(nil)
            switch editor.readLine(prompt: "calf> ") {
            case .line(let line):
                if Self.isQuit(line) { return }
                _ = session.run(line)
            case .interrupted: continue
            case .end: return
            }
        }
    }
}
