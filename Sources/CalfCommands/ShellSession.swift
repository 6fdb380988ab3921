import CalfControl
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
    var client: ControlClient?
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
        let request: ControlRequest
        do {
            switch try ShellLine.command(line) {
            case .request(let asked): request = asked
            case .graph(let words): return runGraph(words)
            case .quit: return 0
            }
        } catch {
            return fail("\(error)", status: 64)
        }
        if offline, OfflineNode.liveOnly.contains(request.command) {
            let command = request.command == "dead-retry" ? "dead retry" : request.command
            return fail("\(command) needs a running node (this shell reads a data directory offline)", status: 1)
        }
        do {
            switch request {
            case .trace: return try trace(request)
            case .top: return try top()
            default: break
            }
            let body = try attached().exchange(request)
            let reply: ControlReply<String>
            if json {
                let value: ControlReply<JSONValue> = try attached().decoded(body)
                reply = value.map(\.text)
            } else {
                do {
                    reply = try ShellFormat.text(for: request, reply: body)
                } catch {
                    return fail("malformed reply to \(request.command): \(error)", status: 2)
                }
            }
            switch reply {
            case .success(let text), .streamed(let text):
                print(text)
                return 0
            case .failure(let error):
                return fail(error.message, status: 1)
            }
        } catch {
            client = nil
            return fail("\(error)", status: 2)
        }
    }

    func fail(_ text: String, status: Status) -> Status {
        FileHandle.standardError.write(Data("error: \(text)\n".utf8))
        return status
    }

    // MARK: Completion

    /// Registered names and pids for Tab (asked of the node at most every two seconds).
    func completionNames() -> [String] {
        if let cache = completionCache, ContinuousClock.now - cache.at < .seconds(2) { return cache.names }
        guard let reply = try? attached().request(.names, as: NameList.self), case .success(let list) = reply else { return [] }
        let names = list.names.keys.sorted() + list.pids
        completionCache = (names, .now)
        return names
    }

    // MARK: trace

    /// The socket a SIGINT handler shuts down to end a trace (-1: none).
    private static let tracedSocket = Atomic<Int32>(-1)

    private func trace(_ request: ControlRequest) throws(ControlClient.ConnectionError) -> Status {
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
        let last = try client.stream(request, as: TraceUpdate.self) { update in
            print(json ? ShellFormat.json(update) : ShellFormat.traceLine(update))
            fflush(nil)
        }
        switch last {
        case .success(let update), .streamed(let update):
            print(json ? ShellFormat.json(update) : ShellFormat.traceLine(update))
            return 0
        case .failure(let error):
            return fail(error.message, status: 1)
        }
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
                let request = ControlRequest.top(order: view.order, limit: max(1, terminal.size.rows))
                switch try client.request(request, as: TopAnswer.self) {
                case .success(let fresh), .streamed(let fresh): answer = fresh
                case .failure(let error): return fail(error.message, status: 1)
                }
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
