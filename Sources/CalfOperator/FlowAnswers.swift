import Calf
import FoundationEssentials

/// The shell's `flows` and `flow P`, read from each flow's log as its state
/// JSON (this module does not link the flows' module: a flow's process is
/// a durable process whose behavior is named `flow:TYPE@VERSION`).
enum FlowAnswers {
    static func flows(on node: Node) async -> EncodedReply {
        var reports: [FlowReport] = []
        for process in await node.processReports() where process.behavior.hasPrefix("flow:") {
            guard let log = await log(of: process.pid, on: node) else { continue }
            reports.append(report(process.pid, process.name, log))
        }
        // Flows of a version this node does not have: parked at its start, no cell.
        let gone = (node.recoveryReport?.unknownBehaviors ?? [:]).filter { $0.value.behavior.hasPrefix("flow:") }
        for (pid, unknown) in gone.sorted(by: { $0.key < $1.key }) {
            reports.append(FlowReport(
                pid: pid.description, name: unknown.name, type: String((unknown.versioned?.name ?? unknown.behavior).dropFirst("flow:".count)),
                version: unknown.versioned?.version ?? 0, status: "gone",
                waitingOn: "this binary has no code for \(unknown.behavior)", steps: 0, startedAt: nil))
        }
        return .success(reports)
    }

    static func flow(_ target: String, upTo: Int?, on node: Node) async -> EncodedReply {
        guard let process = await node.processReport(target) else {
            let gone = (node.recoveryReport?.unknownBehaviors ?? [:]).first { $0.value.name == target || $0.key.description == target }
            if let (pid, unknown) = gone, unknown.behavior.hasPrefix("flow:") {
                let why = node.recoveryReport?.quarantined[pid] ?? "no code for it"
                return .failure(.quarantined, "\(target) is a flow of \(unknown.behavior), which this binary does not have (gone): \(why)")
            }
            return .failure(.noProcess, "no process \(target)")
        }
        guard process.behavior.hasPrefix("flow:") else { return .failure(.badRequest, "\(target) is not a flow (its behavior is \(process.behavior))") }
        guard let log = await log(of: process.pid, on: node) else { return .failure(.noProcess, "the log of \(target) could not be read") }
        var steps: [FlowStepReport] = []
        if case .array(let list)? = log["steps"] {
            for step in list.prefix(upTo.map { max(0, $0 + 1) } ?? list.count) {
                steps.append(FlowStepReport(
                    id: step["id"]?.stringValue ?? "?", at: number(step["at"]) ?? 0, kind: step["kind"]?.stringValue ?? "?",
                    what: redacted(step["what"]?.stringValue ?? ""), result: result(step["result"]).map(redacted), resolvedAt: number(step["resolvedAt"]),
                    attempts: number(step["attempts"]).map { Int($0) }, site: step["site"]?.stringValue ?? ""))
            }
        }
        var divergence: FlowDivergenceReport?
        if let found = log["divergence"], case .object = found {
            divergence = FlowDivergenceReport(
                step: found["step"]?.stringValue ?? "?", journal: found["journal"]?.stringValue,
                code: found["code"]?.stringValue ?? "?", reason: found["reason"]?.stringValue ?? "diverged")
        }
        return .success(FlowHistory(
            flow: report(process.pid, process.name, log), input: log["input"]?.stringValue ?? "", steps: steps,
            output: log["output"]?.stringValue.map(redacted), error: failure(log["error"]), divergence: divergence))
    }

    private static func log(of pid: String, on node: Node) async -> JSONValue? {
        guard let json = try? await node.stateJSON(of: pid) else { return nil }
        return try? JSONValue(parsing: json)
    }

    private static func report(_ pid: String, _ name: String?, _ log: JSONValue) -> FlowReport {
        let status = log["status"]?.stringValue ?? "?"
        var steps: [JSONValue] = []
        if case .array(let list)? = log["steps"] { steps = list }
        let waiting: String
        switch status {
        case "completed": waiting = "output " + String((log["output"]?.stringValue ?? "").prefix(60))
        case "failed", "cancelled": waiting = failure(log["error"]) ?? status
        case "diverged":
            let step = log["divergence"]?["step"]?.stringValue ?? "?"
            switch log["divergence"]?["reason"]?.stringValue {
            case "foreignAwait": waiting = "awaited something not journaled after step \(step)"
            case "slowTurn": waiting = "parked: a turn ran too long after step \(step)"
            default: waiting = "diverged at step \(step)"
            }
        default:
            let open = steps.filter { $0["result"] == nil || $0["result"] == .null }
            waiting = open.isEmpty ? "-" : open.map { "\($0["kind"]?.stringValue ?? "?") \($0["what"]?.stringValue ?? "")" }.joined(separator: ", ")
        }
        return FlowReport(
            pid: pid, name: name, type: log["type"]?.stringValue ?? "?", version: number(log["version"]).map { Int($0) } ?? 0,
            status: status, waitingOn: redacted(waiting), steps: steps.count, startedAt: number(log["startedAt"]))
    }

    /// A step's result in words: its value (an HTTP response as its status
    /// and body; cut short), "none", or its failure.
    private static func result(_ value: JSONValue?) -> String? {
        guard let value, value != .null else { return nil }
        if let text = value["value"]?["_0"]?.stringValue {
            if let response = try? JSONValue(parsing: text), case .integer(let status)? = response["status"], let body = response["body"]?.stringValue {
                return "\(status) \(body.count > 60 ? String(body.prefix(60)) + "…" : body)"
            }
            return text.count > 80 ? String(text.prefix(80)) + "…" : text
        }
        if value["none"] != nil { return "none" }
        if let failure = failure(value["failure"]?["_0"]) { return "failed: " + failure }
        return value.text
    }

    /// `text` with each callback token cut to its first six characters: a
    /// token is the credential of its URL, never shown whole.
    static func redacted(_ text: String) -> String {
        let pieces = text.split(separator: "/v1/callbacks/", omittingEmptySubsequences: false)
        guard pieces.count > 1 else { return text }
        var out = String(pieces[0])
        for piece in pieces.dropFirst() {
            let token = piece.prefix { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }
            out += "/v1/callbacks/" + token.prefix(6) + (token.count > 6 ? "…" : "") + piece.dropFirst(token.count)
        }
        return out
    }

    private static func failure(_ value: JSONValue?) -> String? {
        guard let value, value != .null else { return nil }
        let kind = value["kind"]?.stringValue ?? "error"
        return "\(kind): \(value["message"]?.stringValue ?? "")"
    }

    private static func number(_ value: JSONValue?) -> UInt64? {
        switch value {
        case .integer(let n)?: n >= 0 ? UInt64(n) : nil
        case .unsigned(let n)?: n
        case .double(let d)?: d >= 0 && d < 1.8e19 ? UInt64(d) : nil
        default: nil
        }
    }
}
