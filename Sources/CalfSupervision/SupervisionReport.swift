import CalfControl
import CalfRuntime
import CalfDurable

/// A supervisor's own report and its running supervisor children, by index.
package struct SupervisorDescription: Sendable {
    package var report: SupervisionReport
    package var nested: [Int: SupervisorRef]
}

extension SupervisorRef {
    /// This supervisor's report, with its supervisor children's, recursively.
    public func report() async throws(SupervisorError) -> SupervisionReport {
        let description = try await describe()
        var report = description.report
        for (index, child) in description.nested {
            if let nested = try? await child.report() { report.children[index].supervisor = [nested] }
        }
        return report
    }
}

extension Supervisor {
    /// This supervisor alone, and its running supervisor children to ask in turn.
    package func describe(_ core: SupervisorState, _ context: Context<Message>) -> SupervisorDescription {
        let records = core.records
        let durable = context.cell.scheduler.node.durable
        var nested: [Int: SupervisorRef] = [:]
        for (index, record) in records.enumerated() where record.spec.kind == .supervisor {
            if let cell = record.cell as? MailboxCell<SupervisorMessage> { nested[index] = SupervisorRef(Address(cell: cell)) }
        }
        let report = SupervisionReport(
            id: spec.id, pid: context.pid.description, strategy: spec.strategy.rawValue, intensity: spec.intensity,
            periodSeconds: Double(spec.period.nanoseconds) / 1e9, durable: spec.durable, restarts: core.totalRestarts,
            children: records.map(\.info).map { info in
                // A durable child out of RAM is still its supervisor's running child; the tree says where it is.
                let passivated = info.status == .running && info.pid.map { durable?.isPassive($0) == true } == true
                return SupervisionReport.Child(
                    id: info.id, pid: info.pid?.description, kind: info.kind.rawValue, status: passivated ? "passivated" : info.status.rawValue,
                    behavior: info.behavior, restarts: info.restarts, lastExit: info.lastExit, supervisor: [])
            })
        return SupervisorDescription(report: report, nested: nested)
    }
}

extension Node {
    /// The supervision trees of the root supervisors, in start order.
    public func supervisionTrees() async -> [SupervisionReport] {
        var reports: [SupervisionReport] = []
        for root in core.supervision.roots.withLock({ $0 }) {
            if let report = try? await root.report() { reports.append(report) }
        }
        return reports
    }
}
