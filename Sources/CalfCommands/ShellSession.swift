import Calf
import CalfShell
import Foundation
import Synchronization

/// Runs shell lines against a node: the answers of the node, printed as
/// tables or JSON, and the commands the shell does itself (`help`, the
/// streams of `trace`, the screen of `top`).
final class ShellSession {
    /// How a line ended, as an exit status: 0 done, 1 the node refused,
    /// 2 no node to talk to, 64 not a command.
    typealias Status = Int32

    /// Where the node's socket is.
    let dataDirectory: String
    let json: Bool
    /// Talking to an offline copy: commands that need a running node are refused.
    let offline: Bool
    private var client: ControlClient?
    private var completionCache: (names: [String], at: ContinuousClock.Instant)?

    init(dataDirectory: String, json: Bool, offline: Bool = false) {
        self.dataDirectory = dataDirectory
        self.json = json
        self.offline = offline
    }

    /// The connection, made on first use (again after a trace ended it).
    func attached() throws(ControlClient.ConnectionError) -> ControlClient {
        if let client { return client }
        let fresh = try ControlClient(dataDirectory: dataDirectory)
        client = fresh
        return fresh
    }

    /// Runs one line.
    func run(_ line: String) -> Status {
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        switch words.first {
        case nil: return 0
        case "help":
            guard let text = ShellHelp.text(for: words.dropFirst().first.map(String.init)) else {
                return fail("no command '\(words[1])'; help lists them", status: 1)
            }
            print(text)
            return 0
        default: break
        }
        let request: ControlProtocol.Request
        do {
            request = try ShellLine.parse(line)
        } catch {
            return fail("\(error)", status: 64)
        }
        if offline, OfflineNode.liveOnly.contains(request.cmd) {
            let command = request.cmd == "dead-retry" ? "dead retry" : request.cmd
            return fail("\(command) needs a running node (this shell reads a data directory offline)", status: 1)
        }
        do {
            switch request.cmd {
            case "trace": return try trace(request)
            case "top": return try top()
            default: break
            }
            let reply = try attached().request(request)
            guard reply.ok else { return fail(reply.error ?? "unknown", status: 1) }
            let result = reply.result ?? ""
            print(json ? result : ShellFormat.text(for: request.cmd, result: result))
            return 0
        } catch {
            client = nil
            return fail("\(error)", status: 2)
        }
    }

    private func fail(_ text: String, status: Status) -> Status {
        FileHandle.standardError.write(Data("error: \(text)\n".utf8))
        return status
    }

    // MARK: Completion

    /// Registered names and pids for Tab (asked of the node at most every two seconds).
    func completionNames() -> [String] {
        if let cache = completionCache, ContinuousClock.now - cache.at < .seconds(2) { return cache.names }
        guard let reply = try? attached().request(.init(cmd: "names")), reply.ok,
              let list = try? JSONDecoder().decode(NameList.self, from: Data((reply.result ?? "").utf8))
        else { return [] }
        let names = list.names.keys.sorted() + list.pids
        completionCache = (names, .now)
        return names
    }

    // MARK: trace

    /// The socket a SIGINT handler shuts down to end a trace (-1: none).
    private static let tracedSocket = Atomic<Int32>(-1)

    private func trace(_ request: ControlProtocol.Request) throws(ControlClient.ConnectionError) -> Status {
        let client = try attached()
        // The connection ends with the trace: a new one for the next command.
        self.client = nil
        Self.tracedSocket.store(client.descriptor, ordering: .sequentiallyConsistent)
        let previous = signal(SIGINT) { _ in
            let socket = ShellSession.tracedSocket.load(ordering: .sequentiallyConsistent)
            if socket >= 0 { shutdown(socket, Int32(SHUT_WR)) }
        }
        defer {
            Self.tracedSocket.store(-1, ordering: .sequentiallyConsistent)
            signal(SIGINT, previous)
        }
        let json = self.json
        let last = try client.stream(request) { reply in
            let line = json ? (reply.result ?? "") : ShellFormat.traceLine(reply.result ?? "")
            print(line)
            fflush(nil)
        }
        guard last.ok else { return fail(last.error ?? "unknown", status: 1) }
        if !json { print(last.result ?? "") }
        return 0
    }

    // MARK: top

    private func top() throws(ControlClient.ConnectionError) -> Status {
        let terminal = Terminal()
        guard terminal.isInteractive else { return fail("top needs a terminal (ps --sort msgs gives the same figures once)", status: 1) }
        let client = try attached()
        var view = TopView()
        terminal.enterRawMode()
        // The alternate screen, the cursor hidden; both given back on leaving.
        terminal.write("\u{1b}[?1049h\u{1b}[?25l")
        defer {
            terminal.write("\u{1b}[?25h\u{1b}[?1049l")
            terminal.leaveRawMode()
        }
        var answer: TopAnswer?
        var refresh = true
        while true {
            if refresh {
                // As many rows as the screen holds; the node keeps the rates (only these rows cross the socket).
                let request = ControlProtocol.Request(cmd: "top", sort: view.order.name, limit: max(1, terminal.size.rows))
                let reply = try client.request(request)
                guard reply.ok, let fresh = try? JSONDecoder().decode(TopAnswer.self, from: Data((reply.result ?? "").utf8)) else {
                    return fail(reply.error ?? "malformed top answer", status: 1)
                }
                answer = fresh
            }
            if let answer {
                terminal.write("\u{1b}[H\u{1b}[2J" + view.screen(answer, size: terminal.size).joined(separator: "\r\n"))
            }
            guard let keys = terminal.readKeys(timeoutMilliseconds: 1000) else { return 0 }
            refresh = keys.isEmpty
            for key in keys {
                switch key {
                case UInt8(ascii: "q"), UInt8(ascii: "Q"), 0x03, 0x04: return 0
                case UInt8(ascii: "s"): view.order = view.order.next
                default: refresh = true
                }
            }
        }
    }
}
