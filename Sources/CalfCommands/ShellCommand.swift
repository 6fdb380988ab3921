import ArgumentParser
import CalfShell
import Foundation

/// `calf shell`: talks to a running node over its control socket.
struct ShellCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shell",
        abstract: "Run commands against a running node.",
        discussion: """
        Commands: send P JSON [--key KEY]   (prints ok, or ok duplicate, once committed)
                  call P JSON [--timeout MS] (prints the reply as JSON)
                  state P [--at SEQ]         (the state as JSON; --at: as it was at that
                                              point of the journal, rebuilt by replay)
                  ps [--sort mailbox|msgs|memory|restarts]
                  info P                     (one process: status, mailbox, links…)
                  tree                       (the supervision trees)
                  mailbox P                  (its pending mail as JSON)
                  kill P [REASON]            (exit signal REASON; killed if none)
                  restart P                  (killed: a durable one is rebuilt in place,
                                              a supervised one restarted)
                  suspend P, resume P        (no turns meanwhile; its mail waits)
                  dead [P]                   (dead letters: poison messages set aside)
                  dead retry ID              (send one again, at most once)
                  journal P [--from SEQ] [--limit N]  (its history in the journal)
                  stats                      (schedulers, processes by status, the journal)
        P is a registered name or a pid (<0.7>, <0.12.0>).
        """
    )

    @Option(name: .long, help: "The node's data directory.")
    var data: String

    @Option(name: .short, help: "A command to run (repeatable); exits non-zero on the first error.")
    var command: [String] = []

    @Flag(name: .long, help: "Print answers as JSON (machine-readable) instead of tables.")
    var json = false

    func run() throws {
        guard !command.isEmpty else {
            throw ValidationError("give a command with -c (the interactive shell comes with the shell work)")
        }
        let client: ControlClient
        do {
            client = try ControlClient(dataDirectory: data)
        } catch {
            FileHandle.standardError.write(Data("calf shell: \(error)\n".utf8))
            throw ExitCode(2)
        }
        for line in command {
            let request: ControlProtocol.Request
            do {
                request = try ShellLine.parse(line)
            } catch {
                FileHandle.standardError.write(Data("calf shell: \(error)\n".utf8))
                throw ExitCode(64)
            }
            let reply: ControlProtocol.Reply
            do {
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
