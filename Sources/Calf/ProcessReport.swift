/// glibc's `malloc_usable_size` (declared in <malloc.h>, which Swift's Glibc module leaves out).
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer?) -> Int

/// What the runtime knows of one live process, for the shell's `ps` and `info`.
public struct ProcessReport: Codable, Sendable, Equatable {
    /// Its pid, printed (`<0.7>`, or `<0.SEQ.I>` for a durable one).
    public var pid: String
    /// Its registered name, if any.
    public var name: String?
    /// Its behavior's name.
    public var behavior: String
    /// The scheduler it runs on.
    public var scheduler: Int
    /// `runnable` (in a run queue), `waiting` (for mail), `suspended` (by
    /// the operator), or a durable process's `recovering`, `stopping` or `quarantined`.
    public var status: String
    /// Messages waiting in its mailbox.
    public var mailbox: Int
    /// Messages handled so far (this run of the node).
    public var handled: UInt64
    /// Restarts in place (a durable process's rebuilds).
    public var restarts: UInt64
    /// Bytes it holds (the process object and its mailbox buffer; an estimate).
    public var memory: Int
    /// Whether it is durable.
    public var durable: Bool
    /// Traps exits.
    public var trapsExits: Bool
    /// Processes it is linked to.
    public var links: [String]
    /// Processes monitoring it.
    public var monitoredBy: [String]
    /// Why it is quarantined (durable only).
    public var quarantine: String?
}

extension ProcessCell {
    /// Its report (on its scheduler's thread).
    func report() -> ProcessReport {
        let relations = self.relations
        return ProcessReport(
            pid: pid.description, name: relations?.name, behavior: behaviorName, scheduler: scheduler.index,
            status: reportedStatus, mailbox: mailboxCount, handled: handled, restarts: restartCount,
            memory: mallocUsableSize(Unmanaged.passUnretained(self).toOpaque()) + mailboxBytes,
            durable: isJournaled, trapsExits: trapExit,
            links: relations?.links.map(\.pid.description) ?? [],
            monitoredBy: relations?.monitoredBy.map(\.1.pid.description) ?? [],
            quarantine: quarantineReason)
    }
}

extension Node {
    /// Reports of every live process, by pid.
    public func processReports() async -> [ProcessReport] {
        var reports: [ProcessReport] = []
        for scheduler in schedulers {
            reports += await onLoop(scheduler) { scheduler in scheduler.processes.values.map { $0.report() } }
        }
        return reports
    }

    /// The report of the process with this pid (printed form) or registered name.
    public func processReport(_ target: String) async -> ProcessReport? {
        guard let cell = await liveCell(target) else { return nil }
        return await onLoop(cell.scheduler) { _ in cell.status == .alive ? cell.report() : nil }
    }
}
