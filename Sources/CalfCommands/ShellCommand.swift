import ArgumentParser
import CalfShell
import Foundation

/// `calf shell`: talks to a running node over its control socket.
struct ShellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "Run commands against a running node.",
        discussion: "Commands:\n" + (ShellHelp.text() ?? "")
    )

    @Option(name: .long, help: "The node's data directory.")
    var data: String

    @Option(name: .short, help: "A command to run (repeatable); exits non-zero on the first error.")
    var command: [String] = []

    @Flag(name: .long, help: "Print answers as JSON (machine-readable) instead of tables.")
    var json = false

    /// The answer to a `help [COMMAND]` line (given here, not by the node):
    /// the text, or an error for an unknown command; nil for other lines.
    static func help(_ line: String) -> Result<String, ValidationError>? {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard words.first == "help" else { return nil }
        guard let text = ShellHelp.text(for: words.dropFirst().first) else {
            return .failure(ValidationError("no command '\(words[1])'; help lists them"))
        }
        return .success(text)
    }

    func run() throws {
        guard !command.isEmpty else {
            throw ValidationError("give a command with -c (an interactive mode is not there yet); -c help lists the commands")
        }
        // Attached on the first command that needs the node (help does not).
        var attached: ControlClient?
        for line in command {
            switch Self.help(line) {
            case .success(let text):
                print(text)
                continue
            case .failure(let error):
                FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
                throw ExitCode(1)
            case nil:
                break
            }
            let request: ControlProtocol.Request
            do {
                request = try ShellLine.parse(line)
            } catch {
                FileHandle.standardError.write(Data("calf shell: \(error)\n".utf8))
                throw ExitCode(64)
            }
            let reply: ControlProtocol.Reply
            do {
                let client = try attached ?? ControlClient(dataDirectory: data)
                attached = client
                reply = try client.request(request)
            } catch {
                FileHandle.standardError.write(Data("calf shell: \(error)\n".utf8))
                throw ExitCode(2)
            }
            if reply.ok {
                let result = reply.result ?? ""
                print(json ? result : ShellFormat.text(for: request.cmd, result: result))
            } else {
                FileHandle.standardError.write(Data("error: \(reply.error ?? "unknown")\n".utf8))
                throw ExitCode(1)
            }
        }
    }
}
