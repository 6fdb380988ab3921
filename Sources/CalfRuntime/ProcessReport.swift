import CalfControl

/// glibc's `malloc_usable_size` (declared in <malloc.h>, which Swift's Glibc module leaves out).
@_silgen_name("malloc_usable_size")
private func mallocUsableSize(_ pointer: UnsafeMutableRawPointer?) -> Int

extension ProcessCell {
    /// Its report (on its scheduler's thread; nil for a cell the operator cannot inspect, which no cell is).
    package func report() -> ProcessReport? {
        guard let view = inspected else { return nil }
        let relations = self.relations
        let bound = view.mailboxBound
        return ProcessReport(
            pid: pid.description, name: relations?.name, behavior: view.behaviorName, scheduler: scheduler.index,
            status: reportedStatus, mailbox: view.mailboxCount, handled: handled, restarts: view.restartCount,
            memory: mallocUsableSize(Unmanaged.passUnretained(self).toOpaque()) + view.mailboxBytes,
            durable: view.isDurable, trapsExits: trapExit,
            links: relations?.links.map(\.pid.description) ?? [],
            monitoredBy: relations?.monitoredBy.map(\.1.pid.description) ?? [],
            quarantine: view.quarantineReason,
            mailboxLimit: bound?.limit, backlog: bound?.backlog, refused: bound?.refused)
    }
}

extension Node {
    /// Reports of every live process, by pid.
    public func processReports() async -> [ProcessReport] {
        await processReports(inPidOrder: true)
    }

    /// Reports of every live process, by pid or (cheaper, for `top`) as the schedulers hold them.
    package func processReports(inPidOrder: Bool) async -> [ProcessReport] {
        var pids: [Pid] = []
        var reports: [ProcessReport] = []
        for scheduler in schedulers {
            let some = await onLoop(scheduler) { scheduler in
                scheduler.processes.compactMap { pid, cell in cell.report().map { (pid, $0) } }
            }
            pids += some.map(\.0)
            reports += some.map(\.1)
        }
        guard inPidOrder else { return reports }
        // Indices sorted, then each report moved once (they are large to move in every swap).
        let order = reports.indices.sorted { pids[$0] < pids[$1] }
        return order.map { reports[$0] }
    }

    /// The report of the process with this pid (printed form) or registered name.
    public func processReport(_ target: String) async -> ProcessReport? {
        await withLiveProcess(target) { cell, _ in cell.report() } ?? nil
    }
}
