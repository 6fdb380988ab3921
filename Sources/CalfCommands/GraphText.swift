import CalfGraphs
import CalfShell
import Foundation

/// The text of the shell's graph commands: `graph`'s table, `runs`' history, `log`'s output.
enum GraphText {
    /// `graph`: a heading, then one row per task (the last line of a failed run's output under it), then the latest notes.
    static func table(_ report: GraphReport) -> String {
        var lines = ["\(report.graph)  version \(report.version.prefix(8))\(report.paused ? "  PAUSED" : "")"]
        var rows: [[String]] = []
        var failures: [Int: String] = [:]
        for task in report.tasks {
            let run = task.lastRun
            let status = mark(task.status) + " " + task.status + (task.stale && ["ready", "starting", "running"].contains(task.status) ? " · stale" : "") + (task.paused ? " · paused" : "")
            let took = run?.durationMs.map(duration) ?? (run == nil ? "" : "…")
            var cause = run?.cause ?? ""
            if let blocked = task.blockedBy { cause = "blocked: \(blocked)" }
            if let pending = task.pending, task.status == "pending" { cause = pending.joined(separator: "; ") }
            if let gaveUp = task.gaveUp { cause = gaveUp }
            if task.kind == "worker" { cause = "\(task.runs) outcome\(task.runs == 1 ? "" : "s") taken (state \(report.graph)/\(task.name))" }
            rows.append([task.name, task.kind, status, run.map { "#\($0.number)" } ?? "", run.map { GraphState.clock($0.startedAt) } ?? "", took, clip(cause, 70)])
            if let run, run.status == "failed" || run.status == "timedOut", let last = run.tail.last(where: { !$0.isEmpty }) {
                failures[rows.count - 1] = "  └ " + clip(last, 100)
            }
        }
        let table = ShellFormat.columns(["TASK", "KIND", "STATUS", "RUN", "STARTED", "TOOK", "CAUSE"], rows).split(separator: "\n").map(String.init)
        lines.append(table[0])
        for (index, row) in table.dropFirst().enumerated() {
            lines.append(row)
            if let failure = failures[index] { lines.append(failure) }
        }
        for note in report.notes.suffix(3) { lines.append("note: " + clip(note.replacingOccurrences(of: "\n", with: " "), 140)) }
        return lines.joined(separator: "\n")
    }

    /// `runs TASK`: its history, newest last.
    static func runs(_ runs: [RunReport], of task: String) -> String {
        guard !runs.isEmpty else { return "\(task) has not run" }
        return ShellFormat.columns(["#", "STATUS", "EXIT", "STARTED", "TOOK", "INPUTS", "VERSION", "CAUSE"], runs.map { run in
            let inputs = run.inputDigests.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.prefix(6))" }.joined(separator: ",")
            let exit = run.exitCode.map(String.init) ?? run.signal.map { "sig \($0)" } ?? "-"
            return ["\(run.number)", run.status, exit, GraphState.clock(run.startedAt), run.durationMs.map(duration) ?? "…",
                    inputs.isEmpty ? "-" : inputs, String(run.graphVersion.prefix(8)), clip(run.cause, 70)]
        })
    }

    /// `log TASK [N]`: the run's heading, then its log file (its last 2,000
    /// lines), or the tail the journal kept when the file is gone.
    static func log(_ run: RunReport, of task: String) -> String {
        let ended = run.exitCode.map { ", exit \($0)" } ?? run.signal.map { ", signal \($0)" } ?? ""
        var lines = ["\(task) #\(run.number): \(run.status)\(ended), started \(GraphState.clock(run.startedAt))" + (run.note.map { " — \($0)" } ?? "")]
        if let text = try? String(contentsOfFile: run.logPath, encoding: .utf8) {
            let all = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let shown = all.last == "" ? all.dropLast() : all[...]
            if shown.count > 2000 { lines.append("(\(shown.count - 2000) earlier lines in \(run.logPath))") }
            lines += shown.suffix(2000)
        } else {
            lines.append("(its log file \(run.logPath.isEmpty ? "was never written" : "is gone"); the last lines the journal kept:)")
            lines += run.tail
        }
        return lines.joined(separator: "\n")
    }

    private static func mark(_ status: String) -> String {
        switch status {
        case "fresh", "ready": "✓"
        case "running", "starting": "●"
        case "failed", "timedOut", "couldNotStart", "given up": "✗"
        case "pending", "backoff": "…"
        default: "○"
        }
    }

    private static func duration(_ milliseconds: Int64) -> String {
        milliseconds < 1000 ? "\(milliseconds)ms" : milliseconds < 60_000 ? String(format: "%.1fs", Double(milliseconds) / 1000) : "\(milliseconds / 60_000)m\((milliseconds / 1000) % 60)s"
    }

    private static func clip(_ text: String, _ length: Int) -> String {
        text.count > length ? String(text.prefix(length - 1)) + "…" : text
    }
}
