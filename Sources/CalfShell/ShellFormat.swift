import CalfControl
import FoundationEssentials
#if canImport(Glibc)
import Glibc
#endif

/// How the shell prints a reply: the structured answers (`ps`, `info`,
/// `tree`, …) as tables and drawings, the rest as JSON.
public enum ShellFormat {
    /// The text to print for `body`, the node's reply to `request` (its
    /// frame's JSON), or the node's refusal.
    /// - Throws: a decoding error if the reply is not what `request` is answered with.
    public static func text(for request: ControlRequest, reply body: [UInt8]) throws -> ControlReply<String> {
        func render<Answer: Codable & Sendable>(_ type: Answer.Type, _ draw: (Answer) -> String) throws -> ControlReply<String> {
            switch try ControlReply<Answer>.read(body) {
            case .success(let answer): .success(draw(answer))
            case .streamed(let answer): .streamed(draw(answer))
            case .failure(let error): .failure(error)
            }
        }
        switch request {
        case .ps: return try render([ProcessReport].self, table)
        case .info: return try render(ProcessReport.self, info)
        case .stats: return try render(NodeStats.self, statistics)
        case .journal: return try render([JournalEntry].self) { journal($0) }
        case .deadLetters: return try render([DeadLetterReport].self, deadLetters)
        case .effects: return try render([EffectReport].self, effects)
        case .callbacks: return try render([CallbackReport].self, callbacks)
        case .names: return try render(NameList.self, names)
        case .flows: return try render([FlowReport].self) { flows($0) }
        case .flow(_, let upTo): return try render(FlowHistory.self) { upTo == -1 ? divergence($0) : flow($0) }
        case .tree: return try render([SupervisionReport].self) { $0.map(tree).joined(separator: "\n") }
        case .send, .retryDeadLetter: return try render(SendAnswer.self) { $0.duplicate ? "ok duplicate" : "ok" }
        case .kill, .restart, .suspend, .resume, .move: return try render(Done.self) { _ in "ok" }
        case .passivate:
            return try render(PassivateAnswer.self) { answer in
                answer.passivated ? (answer.already ? "ok (passivated already)" : "ok") : "stays in RAM: \(answer.stays ?? "")"
            }
        case .trace: return try render(TraceUpdate.self, traceLine)
        case .call, .state, .mailbox, .top: return try render(JSONValue.self, \.text)
        }
    }

    /// One line of `trace`: time, direction, kind, peer, message.
    public static func traceLine(_ update: TraceUpdate) -> String {
        switch update {
        case .following(let target): return "following \(target): << what it takes in, >> what it sends (Ctrl-C stops)"
        case .dropped(let count): return "… \(count) events dropped (the shell did not keep up)"
        case .ended(let reason): return "trace ended: \(reason)"
        case .event(let event):
            let seconds = Int(event.at / 1_000_000_000)
            let micros = Int(event.at / 1_000 % 1_000_000)
            let hours = padded(seconds / 3600 % 24, 2), minutes = padded(seconds / 60 % 60, 2)
            let clock = "\(hours):\(minutes):\(padded(seconds % 60, 2)).\(padded(micros, 6))"
            let arrow = event.direction == "in" ? "<<" : ">>"
            let peer = event.peer.map { " \($0)" } ?? ""
            return "\(clock) \(arrow) \(event.kind)\(peer) \(event.message.text)"
        }
    }

    /// `value` as one line of JSON, keys sorted.
    public static func json(_ value: some Encodable) -> String {
        String(decoding: (try? ControlProtocol.encode(value)) ?? Array("null".utf8), as: UTF8.self)
    }

    /// `names`: registered names and their pids.
    static func names(_ list: NameList) -> String {
        guard !list.names.isEmpty else { return "no registered names" }
        return columns(["NAME", "PID"], list.names.sorted { $0.key < $1.key }.map { [$0.key, $0.value] })
    }

    /// A rate or count read from the node's answer, rounded to a whole
    /// number for display: "-" for NaN or infinity, and a figure beyond
    /// `Int`'s range still prints (as a `Double`), never traps.
    static func whole(_ value: Double) -> String {
        guard value.isFinite else { return "-" }
        let rounded = value.rounded()
        guard let exact = Int(exactly: rounded) else { return String(rounded) }
        return String(exact)
    }

    private static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// `ps`: one row per process.
    static func table(_ reports: [ProcessReport]) -> String {
        columns(["PID", "NAME", "BEHAVIOR", "SCHED", "STATUS", "MAILBOX", "MSGS", "RESTARTS", "MEMORY"], reports.map { report in
            [report.pid, report.name ?? "-", report.behavior, String(report.scheduler), report.status,
             String(report.mailbox), String(report.handled), String(report.restarts), bytes(report.memory)]
        })
    }

    /// `dead`: one row per dead letter.
    static func deadLetters(_ letters: [DeadLetterReport]) -> String {
        guard !letters.isEmpty else { return "no dead letters" }
        return columns(["ID", "PID", "NAME", "FAILURES", "MESSAGE", "ERROR"], letters.map { letter in
            [String(letter.id), letter.pid, letter.name ?? "-", String(letter.failures), letter.message?.text ?? "?", letter.error]
        })
    }

    /// `effects`: one row per effect under way.
    static func effects(_ effects: [EffectReport]) -> String {
        guard !effects.isEmpty else { return "no effects under way" }
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        let now = Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
        return columns(["PID", "NAME", "ID", "EFFECT", "ATTEMPTS", "NEXT", "LAST ERROR", "KEY"], effects.map { effect in
            let next = effect.nextAttemptAt.map { at in
                let seconds = Double(at) / 1e9 - now
                guard seconds < 1e9 else { return "later" }
                let tenths = Int((max(0, seconds) * 10).rounded())
                return "in \(tenths / 10).\(tenths % 10) s"
            } ?? "-"
            return [effect.pid, effect.name ?? "-", String(effect.id), effect.effect, String(effect.attempts), next, effect.lastError ?? "-", effect.key]
        })
    }

    /// `flows`: one row per flow.
    static func flows(_ flows: [FlowReport], now: UInt64 = UInt64(max(0, time(nil))) * 1_000_000_000) -> String {
        guard !flows.isEmpty else { return "no flows" }
        return columns(["PID", "NAME", "FLOW", "VER", "STATUS", "WAITING ON", "STEPS", "AGE"], flows.map { flow in
            let age = flow.startedAt.map { now > $0 ? duration(seconds: Double(now - $0) / 1e9) : "0s" } ?? "-"
            let waiting = flow.waitingOn.count > 60 ? String(flow.waitingOn.prefix(59)) + "…" : flow.waitingOn
            return [flow.pid, flow.name ?? "-", flow.type, String(flow.version), flow.status, waiting, String(flow.steps), age]
        })
    }

    /// `flow P`: where it stands, then one row per step.
    static func flow(_ history: FlowHistory) -> String {
        let flow = history.flow
        var lines = ["\(flow.name ?? flow.pid) \(flow.pid): \(flow.type) v\(flow.version), \(flow.status); input \(history.input)"]
        if history.steps.isEmpty {
            lines.append("no steps")
        } else {
            lines.append(columns(["STEP", "AT", "KIND", "WHAT", "RESULT", "ATTEMPTS", "SITE"], history.steps.map { step in
                let what = step.what.count > 50 ? String(step.what.prefix(49)) + "…" : step.what
                return [step.id, clock(step.at), step.kind, what, step.result ?? "…", step.attempts.map(String.init) ?? "-", step.site]
            }))
        }
        if let output = history.output { lines.append("output: \(output)") }
        if let error = history.error { lines.append("error: \(error)") }
        if history.divergence != nil { lines.append(divergence(history)) }
        return lines.joined(separator: "\n")
    }

    /// `flow P --diff`: both sides of the step where the code left its history.
    static func divergence(_ history: FlowHistory) -> String {
        guard let divergence = history.divergence else { return "\(history.flow.name ?? history.flow.pid) has not diverged (\(history.flow.status))" }
        if divergence.reason == "foreignAwait" { return "parked after step \(divergence.step): \(divergence.code)" }
        return "diverged at step \(divergence.step):\n  journal: \(divergence.journal ?? "nothing")\n  code:    \(divergence.code)"
    }

    private static func clock(_ nanoseconds: UInt64) -> String {
        let seconds = Int(nanoseconds / 1_000_000_000)
        let millis = Int(nanoseconds / 1_000_000 % 1000)
        return "\(padded(seconds / 3600 % 24, 2)):\(padded(seconds / 60 % 60, 2)):\(padded(seconds % 60, 2)).\(padded(millis, 3))"
    }

    private static func duration(seconds: Double) -> String {
        switch seconds {
        case ..<60: "\(Int(seconds))s"
        case ..<3600: "\(Int(seconds / 60))m"
        case ..<86_400: "\(Int(seconds / 3600))h"
        default: "\(Int(seconds / 86_400))d"
        }
    }

    /// `callbacks`: one row per callback minted (its hash, never its token).
    static func callbacks(_ callbacks: [CallbackReport]) -> String {
        guard !callbacks.isEmpty else { return "no callbacks" }
        return columns(["HASH", "PID", "NAME", "ID", "STATUS", "LATE", "CONFLICTING"], callbacks.map { callback in
            [callback.hash, callback.pid, callback.name ?? "-", String(callback.id), callback.status, String(callback.late), String(callback.conflicting)]
        })
    }

    /// `stats`: schedulers, processes by status, the journal.
    static func statistics(_ stats: NodeStats) -> String {
        var lines = [columns(["SCHEDULER", "PROCESSES", "RUN QUEUE", "MSGS/S", "STATE"], stats.schedulers.map { scheduler in
            [String(scheduler.index), String(scheduler.processes), String(scheduler.runQueue), whole(scheduler.messagesPerSecond),
             scheduler.parked ? "parked" : "active"]
        })]
        lines.append("processes: " + stats.processesByStatus.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", "))
        lines.append("moves: \(stats.processesMoved) processes moved between schedulers since start")
        if let log = stats.log {
            let p50 = log.commitP50Milliseconds.map { "\(($0 * 100).rounded() / 100)" } ?? "-"
            let p99 = log.commitP99Milliseconds.map { "\(($0 * 100).rounded() / 100)" } ?? "-"
            lines.append("log: \(log.commits) commits, \(log.records) records, \(whole(log.recordsPerSecond)) records/s, commit p50 \(p50) ms, p99 \(p99) ms")
            lines.append("map: \(bytes(log.usedBytes)) used of \(bytes(log.mapBytes)) (grew \(log.mapGrowths) times); \(log.restarts) restarts in place, \(log.deadLettered) dead letters since start")
        }
        if let http = stats.http {
            lines.append("http: \(http.address), \(http.requests) requests (\(http.clientErrors) 4xx, \(http.serverErrors) 5xx), \(http.inFlight) in flight")
        }
        return lines.joined(separator: "\n")
    }

    /// `journal`: one row per record, with the process's pid when `withPid`.
    public static func journal(_ entries: [JournalEntry], withPid: Bool = false) -> String {
        guard !entries.isEmpty else { return "no records" }
        return columns((withPid ? ["SEQ", "PID"] : ["SEQ"]) + ["KIND", "WHAT"], entries.map { entry in
            var what = ""
            if let message = entry.message { what = message.text } else if entry.kind == "accepted" { what = "?" }
            if let key = entry.key { what += " (key \(key))" }
            if let handled = entry.handled { what = handled.map(String.init).joined(separator: " ") }
            if let error = entry.error { what = error }
            if let reason = entry.reason { what = reason }
            return [String(entry.seq)] + (withPid ? [entry.pid ?? "?"] : []) + [entry.kind, what]
        })
    }

    /// Rows under a header, in aligned columns (the last one as it is).
    public static func columns(_ header: [String], _ rows: [[String]]) -> String {
        let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
        return ([header] + rows).map { row in
            row.enumerated().map { column, cell in
                column == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[column] - cell.count)
            }.joined(separator: "  ")
        }.joined(separator: "\n")
    }

    /// `info`: one field per line.
    static func info(_ report: ProcessReport) -> String {
        var lines = [
            "pid        \(report.pid)",
            "name       \(report.name ?? "-")",
            "behavior   \(report.behavior)\(report.durable ? " (durable)" : "")",
            "scheduler  \(report.scheduler)",
            "status     \(report.status)\(report.quarantine.map { ": \($0)" } ?? "")",
            "mailbox    \(report.mailbox)\(report.mailboxLimit.map { " (limit \($0), backlog \(report.backlog ?? 0), refused \(report.refused ?? 0))" } ?? "")",
            "handled    \(report.handled)",
            "restarts   \(report.restarts)",
            "memory     \(bytes(report.memory))",
            "trapExit   \(report.trapsExits)",
            "links      \(report.links.isEmpty ? "-" : report.links.joined(separator: " "))",
        ]
        lines.append("monitors   \(report.monitoredBy.isEmpty ? "-" : report.monitoredBy.joined(separator: " "))")
        return lines.joined(separator: "\n")
    }

    /// `tree`: the supervisor and its children, drawn with box-drawing characters.
    static func tree(_ report: SupervisionReport) -> String {
        var lines = [supervisorLine(report)]
        draw(report.children, prefix: "", into: &lines)
        return lines.joined(separator: "\n")
    }

    private static func supervisorLine(_ report: SupervisionReport) -> String {
        let restarts = report.restarts == 1 ? "1 restart" : "\(report.restarts) restarts"
        return "\(report.id) \(report.pid) [\(report.strategy)\(report.durable ? ", durable" : ""), \(restarts), intensity \(report.intensity)/\(formatSeconds(report.periodSeconds))]"
    }

    private static func draw(_ children: [SupervisionReport.Child], prefix: String, into lines: inout [String]) {
        for (index, child) in children.enumerated() {
            let last = index == children.count - 1
            let branch = prefix + (last ? "└── " : "├── ")
            let below = prefix + (last ? "    " : "│   ")
            if let nested = child.supervisor.first {
                lines.append(branch + supervisorLine(nested))
                draw(nested.children, prefix: below, into: &lines)
                continue
            }
            var line = "\(child.id) \(child.pid ?? "-") \(child.behavior) \(child.status)"
            if child.restarts > 0 { line += ", \(child.restarts) restart\(child.restarts == 1 ? "" : "s")" }
            if child.status != "running", let exit = child.lastExit { line += " (last exit: \(exit))" }
            lines.append(branch + line)
        }
    }

    private static func formatSeconds(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? "\(whole(seconds))s" : "\(seconds)s"
    }

    static func bytes(_ count: Int) -> String {
        if count >= 1 << 20 { return "\(count >> 20) MiB" }
        if count >= 1 << 10 { return "\(count >> 10) KiB" }
        return "\(count) B"
    }
}
