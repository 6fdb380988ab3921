import CalfControl
import CalfGraphs
import CalfShell
import Foundation

/// The shell's graph commands: `graph [G] [--at SEQ]`, `graph pause|resume
/// [G] [TASK]`, `runs TASK [--limit N]`, `log TASK [N]`, `run TASK [--key
/// K]`, `cancel TASK`, `why TASK [--at SEQ]`. They read the graph's durable
/// state (`state G/graph`, `--at` by replay) and send its process
/// messages; a TASK is `NAME` when one graph runs on the node, else `G/NAME`.
extension ShellSession {
    /// A line that is not a command.
    struct GraphLineError: Error, CustomStringConvertible {
        let description: String
    }

    /// A line that names no such graph, task or run.
    struct GraphRefusal: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// Runs a graph command line.
    func runGraph(_ words: [String]) -> Status {
        do {
            return try graphCommand(words)
        } catch let error as GraphLineError {
            return fail(error.description, status: 64)
        } catch let error as GraphRefusal {
            return fail(error.description, status: 1)
        } catch let error as ControlError {
            return fail(error.message, status: 1)
        } catch {
            client = nil
            return fail("\(error)", status: 2)
        }
    }

    private func graphCommand(_ words: [String]) throws -> Status {
        var rest = Array(words.dropFirst())
        let flags = try Self.flags(&rest, allowed: words[0] == "graph" || words[0] == "why" ? ["--at", "--json"] : ["--limit", "--key", "--json"])
        let asJSON = json || flags["--json"] != nil
        let at = try flags["--at"].map { text -> UInt64 in
            guard let seq = UInt64(text) else { throw GraphLineError(description: "--at needs a seq") }
            return seq
        }
        switch words[0] {
        case "graph":
            if let action = rest.first, action == "pause" || action == "resume" {
                let (graph, task) = try target(Array(rest.dropFirst()), taskRequired: false)
                let message: JSONValue = .object([action: task.map { ["task": .string($0)] } ?? [:]])
                let found = try call(graph, message)
                guard found == .bool(true) else { throw GraphRefusal("graph \(graph) has no task \(task ?? "")") }
                print("ok \(action == "pause" ? "paused" : "resumed") \(task.map { "\(graph)/\($0)" } ?? graph)")
                return 0
            }
            guard rest.count <= 1 else { throw GraphLineError(description: "graph takes at most a graph's id (graph [G] [--at SEQ] [--json])") }
            let graph = try graphName(rest.first)
            guard let report = try state(of: graph, at: at).report() else { throw GraphRefusal("graph \(graph) has not started") }
            print(asJSON ? try Self.json(report.tasks) : GraphText.table(report))
        case "runs":
            let (graph, task) = try target(rest, taskRequired: true)
            let limit = try flags["--limit"].map { text -> Int in
                guard let count = Int(text), count > 0 else { throw GraphLineError(description: "--limit needs a count") }
                return count
            } ?? 20
            let state = try state(of: graph, at: nil)
            let runs = try ledger(state, graph, task ?? "").runs.suffix(limit).map(RunReport.init)
            print(asJSON ? try Self.json(Array(runs)) : GraphText.runs(runs, of: task ?? ""))
        case "log":
            var words = rest
            var number: Int?
            if words.count == 2, let given = Int(words[1].hasPrefix("#") ? String(words[1].dropFirst()) : words[1]) {
                number = given
                words.removeLast()
            }
            let (graph, task) = try target(words, taskRequired: true)
            let ledger = try ledger(try state(of: graph, at: nil), graph, task ?? "")
            guard let record = number.map({ n in ledger.runs.first { $0.number == n } }) ?? ledger.lastRun else {
                throw GraphRefusal(number.map { "\(task ?? "") has no run #\($0) in its history" } ?? "\(task ?? "") has not run")
            }
            print(GraphText.log(RunReport(record), of: task ?? ""))
        case "run":
            let (graph, task) = try target(rest, taskRequired: true)
            let message: JSONValue = ["run": ["task": .string(task ?? ""), "by": "shell"]]
            if let key = flags["--key"] {
                let body = try attached().exchange(.send(to: graph + "/graph", message: message, key: key))
                let answer: ControlReply<SendAnswer> = try attached().decoded(body)
                print(try answer.get().duplicate ? "ok duplicate (key \(key) was used before: no second run)" : "ok")
                return 0
            }
            switch try call(graph, message) {
            case .integer(let run): print("ok run #\(run) of \(task ?? "")")
            default: print("ok: \(task ?? "") was already to run (taken into that run), or it has no such task")
            }
        case "cancel":
            let (graph, task) = try target(rest, taskRequired: true)
            let stopped = try call(graph, ["cancel": ["task": .string(task ?? "")]])
            guard stopped == .bool(true) else { throw GraphRefusal("\(task ?? "") has no run under way") }
            print("ok cancelled \(task ?? "")")
        default:
            let (graph, task) = try target(rest, taskRequired: true)
            guard let lines = try state(of: graph, at: at).why(task ?? "") else { throw GraphRefusal("graph \(graph) has no task \(task ?? "")") }
            print(asJSON ? try Self.json(lines) : lines.joined(separator: "\n"))
        }
        return 0
    }

    // MARK: The node

    /// The graph `given`, or the one graph the node runs.
    private func graphName(_ given: String?) throws -> String {
        if let given { return given }
        let graphs = try graphs()
        guard graphs.count == 1, let only = graphs.first else {
            throw GraphLineError(description: graphs.isEmpty ? "no graph runs on this node (no process named G/graph)" : "several graphs run (\(graphs.joined(separator: ", "))): name one")
        }
        return only
    }

    private func graphs() throws -> [String] {
        let names = try attached().request(.names, as: NameList.self).get()
        return names.names.keys.filter { $0.hasSuffix("/graph") }.map { String($0.dropLast("/graph".count)) }.sorted()
    }

    /// The graph and task of `[G] [TASK]`, `G/TASK` or `TASK`.
    private func target(_ words: [String], taskRequired: Bool) throws -> (graph: String, task: String?) {
        switch words.count {
        case 0:
            guard !taskRequired else { throw GraphLineError(description: "name a task (TASK, or G/TASK when several graphs run)") }
            return (try graphName(nil), nil)
        case 1:
            let word = words[0]
            if let slash = word.firstIndex(of: "/") { return (String(word[..<slash]), String(word[word.index(after: slash)...])) }
            if !taskRequired, try graphs().contains(word) { return (word, nil) }
            return (try graphName(nil), word)
        case 2:
            return (words[0], words[1])
        default:
            throw GraphLineError(description: "too many words: [G] TASK")
        }
    }

    /// The graph's state (at `seq`, by replay).
    private func state(of graph: String, at seq: UInt64?) throws -> GraphState {
        let reply = try attached().request(.state(of: graph + "/graph", at: seq), as: JSONValue.self).get()
        do {
            return try JSONDecoder().decode(GraphState.self, from: Data(reply.text.utf8))
        } catch {
            throw GraphRefusal("\(graph)/graph is not a graph's process (its state does not read as one: \(error))")
        }
    }

    private func ledger(_ state: GraphState, _ graph: String, _ task: String) throws -> TaskState {
        guard let ledger = state.tasks[task] else {
            throw GraphRefusal("graph \(graph) has no task \(task) (its tasks: \(state.order.joined(separator: ", ")))")
        }
        return ledger
    }

    private func call(_ graph: String, _ message: JSONValue) throws -> JSONValue {
        try attached().request(.call(to: graph + "/graph", message: message, timeoutMilliseconds: nil), as: JSONValue.self).get()
    }

    // MARK: Words

    /// Takes `--flag VALUE` pairs (`--json` alone) out of `words`.
    static func flags(_ words: inout [String], allowed: Set<String>) throws -> [String: String] {
        var found: [String: String] = [:]
        var kept: [String] = []
        var index = 0
        while index < words.count {
            let word = words[index]
            guard word.hasPrefix("--") else { kept.append(word); index += 1; continue }
            guard allowed.contains(word) else { throw GraphLineError(description: "unknown option '\(word)' (\(allowed.sorted().joined(separator: ", ")))") }
            if word == "--json" {
                found[word] = ""
                index += 1
                continue
            }
            guard index + 1 < words.count else { throw GraphLineError(description: "\(word) needs a value") }
            found[word] = words[index + 1]
            index += 2
        }
        words = kept
        return found
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
