import CalfControl

/// Parses a shell command line into a control request:
/// `send NAME JSON [--key KEY]`, `call NAME JSON [--timeout MS]`, `state NAME [--at SEQ]`,
/// `ps [--sort mailbox|msgs|memory|restarts]`, `info P`, `tree`, `mailbox P`,
/// `kill P [REASON]`, `restart P`, `suspend P`, `resume P`, `passivate P`, `move P N`, `dead [P]`, `dead retry ID`, `effects [P]`, `callbacks [P]`,
/// `journal P [--from SEQ] [--limit N]`, `stats`, `trace P [--limit N]`,
/// `top` (drawn by the shell from `ps` and `stats`), `names` (what completion offers),
/// `flows`, `flow P [--at STEP | --diff]`, `flow signal P NAME [JSON]`, `flow cancel P`, `flow resume P`,
/// `flow reset P --to STEP`.
/// JSON is taken whole, brackets balanced and strings respected, so it may
/// contain spaces; it must parse as JSON (a string is written in quotes).
public enum ShellLine {
    /// What a line asks for.
    public enum Command: Sendable, Equatable {
        /// A request to the node.
        case request(ControlRequest)
        /// `quit` or `exit`: the shell ends there.
        case quit
        /// A graph command (`graph`, `runs`, `log`, `run`, `cancel`, `why`)
        /// and its words: the shell reads the graph's state and sends its
        /// process messages (several requests, so it is not one here).
        case graph([String])
    }

    /// The graph commands' names.
    public static let graphCommands: Set<String> = ["graph", "runs", "log", "run", "cancel", "why"]

    /// A line that is not a command.
    public struct ParseError: Error, CustomStringConvertible, Equatable {
        /// What is wrong.
        public let description: String
    }

    /// The request `line` asks for.
    /// - Throws: `ParseError` for `quit` too (use `command(_:)` to tell it).
    public static func parse(_ line: String) throws(ParseError) -> ControlRequest {
        switch try command(line) {
        case .request(let request): return request
        case .quit: throw ParseError(description: "quit asks nothing of the node")
        case .graph(let words): throw ParseError(description: "\(words.first ?? "graph") is a graph command: several requests (ShellLine.command tells it)")
        }
    }

    /// What `line` asks for.
    public static func command(_ line: String) throws(ParseError) -> Command {
        var rest = Substring(line)
        let command = word(&rest)
        switch command {
        case "send", "call":
            let target = word(&rest)
            guard !target.isEmpty else { throw ParseError(description: "\(command) needs a process name or pid") }
            let json = try jsonValue(&rest)
            var key: String?
            var timeout: Int?
            while case let flag = word(&rest), !flag.isEmpty {
                let value = word(&rest)
                switch (command, flag) {
                case ("send", "--key"):
                    guard !value.isEmpty else { throw ParseError(description: "--key needs a value") }
                    key = value
                case ("call", "--timeout"):
                    guard let ms = Int(value), ms > 0 else { throw ParseError(description: "--timeout needs milliseconds") }
                    timeout = ms
                default:
                    throw ParseError(description: "unknown option '\(flag)' for \(command)")
                }
            }
            return .request(command == "send" ? .send(to: target, message: json, key: key) : .call(to: target, message: json, timeoutMilliseconds: timeout))
        case "state":
            let target = word(&rest)
            guard !target.isEmpty else { throw ParseError(description: "state needs a process name or pid") }
            var at: UInt64?
            while case let flag = word(&rest), !flag.isEmpty {
                guard flag == "--at" else { throw ParseError(description: "unknown option '\(flag)' for state") }
                guard let seq = UInt64(word(&rest)) else { throw ParseError(description: "--at needs a seq") }
                at = seq
            }
            return .request(.state(of: target, at: at))
        case "info":
            let target = word(&rest)
            guard !target.isEmpty else { throw ParseError(description: "info needs a process name or pid") }
            guard word(&rest).isEmpty else { throw ParseError(description: "info takes one argument") }
            return .request(.info(target))
        case "ps":
            var order = ProcessOrder.pid
            var passivated = true
            while case let flag = word(&rest), !flag.isEmpty {
                if flag == "--active" {
                    passivated = false
                    continue
                }
                guard flag == "--sort" else { throw ParseError(description: "unknown option '\(flag)' for ps (it takes --sort KEY and --active)") }
                guard let named = ProcessOrder(rawValue: word(&rest)), named != .pid else {
                    throw ParseError(description: "--sort takes mailbox, msgs, memory or restarts")
                }
                order = named
            }
            return .request(.ps(order: order, passivated: passivated))
        case "mailbox", "restart", "suspend", "resume", "passivate":
            let target = word(&rest)
            guard !target.isEmpty else { throw ParseError(description: "\(command) needs a process name or pid") }
            guard word(&rest).isEmpty else { throw ParseError(description: "\(command) takes one argument") }
            switch command {
            case "mailbox": return .request(.mailbox(of: target))
            case "restart": return .request(.restart(target))
            case "suspend": return .request(.suspend(target))
            case "passivate": return .request(.passivate(target))
            default: return .request(.resume(target))
            }
        case "move":
            let target = word(&rest)
            guard !target.isEmpty else { throw ParseError(description: "move needs a process name or pid") }
            guard let scheduler = Int(word(&rest)), scheduler >= 0 else { throw ParseError(description: "move needs a scheduler number (0, 1, …)") }
            guard word(&rest).isEmpty else { throw ParseError(description: "move takes two arguments") }
            return .request(.move(target, toScheduler: scheduler))
        case "kill":
            let target = word(&rest)
            guard !target.isEmpty else { throw ParseError(description: "kill needs a process name or pid") }
            let reason = rest.trimmingWhitespace()
            return .request(.kill(target, reason: reason.isEmpty ? nil : reason))
        case "journal":
            let target = word(&rest)
            guard !target.isEmpty else { throw ParseError(description: "journal needs a process name or pid") }
            var from: UInt64?
            var limit: Int?
            while case let flag = word(&rest), !flag.isEmpty {
                let value = word(&rest)
                switch flag {
                case "--from":
                    guard let seq = UInt64(value) else { throw ParseError(description: "--from needs a seq") }
                    from = seq
                case "--limit":
                    guard let count = Int(value), count > 0 else { throw ParseError(description: "--limit needs a positive count") }
                    limit = count
                default:
                    throw ParseError(description: "unknown option '\(flag)' for journal")
                }
            }
            return .request(.journal(of: target, from: from, limit: limit))
        case "trace":
            let target = word(&rest)
            guard !target.isEmpty else { throw ParseError(description: "trace needs a process name or pid") }
            var limit: Int?
            while case let flag = word(&rest), !flag.isEmpty {
                guard flag == "--limit" else { throw ParseError(description: "unknown option '\(flag)' for trace") }
                guard let count = Int(word(&rest)), count > 0 else { throw ParseError(description: "--limit needs a positive count") }
                limit = count
            }
            return .request(.trace(target, limit: limit))
        case "dead":
            let first = word(&rest)
            if first == "retry" {
                guard let id = UInt64(word(&rest)) else { throw ParseError(description: "dead retry needs the id of a dead letter") }
                guard word(&rest).isEmpty else { throw ParseError(description: "dead retry takes one id") }
                return .request(.retryDeadLetter(id: id))
            }
            guard word(&rest).isEmpty else { throw ParseError(description: "dead takes at most a process name or pid") }
            return .request(.deadLetters(of: first.isEmpty ? nil : first))
        case "effects", "callbacks":
            let first = word(&rest)
            guard word(&rest).isEmpty else { throw ParseError(description: "\(command) takes at most a process name or pid") }
            return .request(command == "effects" ? .effects(of: first.isEmpty ? nil : first) : .callbacks(of: first.isEmpty ? nil : first))
        case "flows":
            guard word(&rest).isEmpty else { throw ParseError(description: "flows takes no argument") }
            return .request(.flows)
        case "flow":
            return .request(try flow(&rest))
        case let name where graphCommands.contains(name):
            var words = [name]
            while case let next = word(&rest), !next.isEmpty { words.append(next) }
            return .graph(words)
        case "quit", "exit":
            // The shell ends there; nothing is asked of the node.
            guard word(&rest).isEmpty else { throw ParseError(description: "\(command) takes no argument") }
            return .quit
        case "tree", "stats", "top", "names":
            guard word(&rest).isEmpty else { throw ParseError(description: "\(command) takes no argument") }
            switch command {
            case "tree": return .request(.tree)
            case "stats": return .request(.stats)
            case "top": return .request(.top(order: .rate, limit: nil))
            default: return .request(.names)
            }
        case "":
            throw ParseError(description: "empty command")
        default:
            throw ParseError(description: "unknown command '\(command)' (\(ShellHelp.commandNames.joined(separator: ", ")))")
        }
    }

    /// `flow P [--at STEP | --diff]`, `flow signal P NAME [JSON]`, `flow cancel P`, `flow resume P`, `flow reset P --to STEP`
    /// (the last three are messages to the flow's process).
    private static func flow(_ rest: inout Substring) throws(ParseError) -> ControlRequest {
        let first = word(&rest)
        switch first {
        case "":
            throw ParseError(description: "flow needs a flow's name or pid (or signal, cancel, resume)")
        case "signal":
            let target = word(&rest)
            let name = word(&rest)
            guard !target.isEmpty, !name.isEmpty else { throw ParseError(description: "flow signal needs a flow and a signal name: flow signal P NAME [JSON]") }
            let payload: JSONValue = rest.trimmingWhitespace().isEmpty ? .null : try jsonValue(&rest)
            guard word(&rest).isEmpty else { throw ParseError(description: "flow signal takes one JSON payload") }
            return .send(to: target, message: ["signal": ["name": .string(name), "payload": .string(payload.text)]], key: nil)
        case "reset":
            let target = word(&rest)
            guard !target.isEmpty, word(&rest) == "--to", let step = Int(word(&rest)), step >= -1, word(&rest).isEmpty else {
                throw ParseError(description: "flow reset needs a flow and the last step to keep: flow reset P --to STEP")
            }
            return .send(to: target, message: ["reset": ["toStep": .integer(Int64(step))]], key: nil)
        case "cancel", "resume":
            let target = word(&rest)
            guard !target.isEmpty, word(&rest).isEmpty else { throw ParseError(description: "flow \(first) needs one flow's name or pid") }
            return .send(to: target, message: .object([first: [:]]), key: nil)
        default:
            var upTo: Int?
            while case let flag = word(&rest), !flag.isEmpty {
                switch flag {
                case "--at":
                    guard let step = Int(word(&rest)), step >= 0 else { throw ParseError(description: "--at needs a step number") }
                    upTo = step
                case "--diff":
                    upTo = -1
                default:
                    throw ParseError(description: "unknown option '\(flag)' for flow (--at STEP, --diff)")
                }
            }
            return .flow(first, upTo: upTo)
        }
    }

    private static func word(_ rest: inout Substring) -> String {
        rest = rest.drop { $0 == " " || $0 == "\t" }
        let token = rest.prefix { $0 != " " && $0 != "\t" }
        rest = rest.dropFirst(token.count)
        return String(token)
    }

    /// The JSON message that comes next: an object, array or string taken
    /// whole, or a word (a number, `true`, `null`).
    private static func jsonValue(_ rest: inout Substring) throws(ParseError) -> JSONValue {
        let text = try jsonText(&rest)
        do throws(JSONValue.ParseError) {
            return try JSONValue(parsing: Array(text.utf8))
        } catch {
            throw ParseError(description: "the message \(text) is not JSON (a string is written in quotes)")
        }
    }

    private static func jsonText(_ rest: inout Substring) throws(ParseError) -> String {
        rest = rest.drop { $0 == " " || $0 == "\t" }
        guard let first = rest.first else { throw ParseError(description: "missing JSON message") }
        guard first == "{" || first == "[" || first == "\"" else { return word(&rest) }
        var depth = 0
        var inString = false
        var escaped = false
        var end = rest.startIndex
        for index in rest.indices {
            let character = rest[index]
            if inString {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
            } else if character == "\"" {
                inString = true
            } else if character == "{" || character == "[" {
                depth += 1
            } else if character == "}" || character == "]" {
                depth -= 1
            }
            end = rest.index(after: index)
            if depth == 0 && !inString { break }
        }
        guard depth == 0, !inString else { throw ParseError(description: "unbalanced JSON message") }
        let json = String(rest[rest.startIndex..<end])
        rest = rest[end...]
        return json
    }
}

private extension Substring {
    func trimmingWhitespace() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
