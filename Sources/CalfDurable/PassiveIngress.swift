import CalfRuntime
import CalfStore

// Mail from outside addressed by pid (`Node.send(_:toDurable:)`): for a
// process in RAM it is the address's path (`DurableCore.ingress(_:to:)`);
// for a passivated one, the record is journaled for its pid with no cell
// of its own, and its home scheduler brings it back once the record
// commits. An address of a passivated process (`Node.durableAddress`)
// needs a stand-in cell instead, made by the sender and freed after its
// one message: making and freeing them was about a tenth of what a node
// spent to bring a million passivated processes back.

/// Committed mail for a passivated process, handed over on its home
/// scheduler (the one that brings it back).
///
/// Thread ownership: made by the sender, then touched only by the writer
/// (`committed`, `notDelivered`) and, after that, by the home scheduler
/// (`accept`, `refuse`); each hand-over is through a queue.
final class PassiveDelivery<Message: Codable & Sendable>: CommittedDelivery, @unchecked Sendable {
    private let mail: CommittedMail<Message>
    private let pid: Pid
    private let home: Scheduler
    private let core: DurableCore

    init(_ mail: CommittedMail<Message>, for pid: Pid, home: Scheduler, core: DurableCore) {
        self.mail = mail
        self.pid = pid
        self.home = home
        self.core = core
    }

    func committed(seq: UInt64) -> Scheduler? {
        _ = mail.committed(seq: seq)
        return home
    }

    func accept(on taker: Scheduler) {
        // Brought back here (or in RAM already, brought back in the meantime).
        core.deliverToLive(mail, of: pid)
    }

    func refuse() {
        home.node.deadLetter(Envelope<Message>.committed(mail), to: pid)
    }

    func notDelivered() {}
}

/// Where mail from outside for a durable pid goes.
enum DurableRecipient<Message: Codable & Sendable> {
    /// In RAM: through its cell (its mailbox limit counts).
    case live(DurableCellBase<Message>)
    /// Passivated: journaled for its pid.
    case passive
}

extension DurableCore {
    /// Where mail of type `M` for `pid` goes; nil for no durable process
    /// with that pid taking `M` (gone, never there, or of another type).
    func recipient<M: Codable & Sendable>(_ pid: Pid, taking _: M.Type) -> DurableRecipient<M>? {
        // One look at the table (a sender of a million passivated processes' mail paid three).
        let (cell, passive) = table.withLock { ($0.cells[pid], $0.passive[pid]?.behavior) }
        if let cell {
            guard (cell as? DurableNamed)?.messageType == ObjectIdentifier(M.self) else { return nil }
            // invariant: a durable cell whose message type is M is a DurableCellBase<M>.
            return .live(unsafeDowncast(cell, to: DurableCellBase<M>.self))
        }
        guard let passive, let type = registry[passive], Self.messageType(of: type) == ObjectIdentifier(M.self) else { return nil }
        return .passive
    }

    private static func messageType<B: DurableBehavior>(of _: B.Type) -> ObjectIdentifier { ObjectIdentifier(B.Message.self) }

    /// Journals `message` from outside for passivated process `pid`; once
    /// committed, its home scheduler brings it back and hands it over,
    /// then `ack` learns the outcome. No mailbox limit is checked: a
    /// passivated process has no mail waiting, and the first message
    /// brings it back, after which its limit counts; the writer's queue
    /// limit bounds what comes in between.
    /// - Returns: false if it was refused at once (as `ingress(_:to:)`).
    @discardableResult
    func ingress<M: Codable & Sendable>(
        _ message: M, toPassive pid: Pid, key: String?, ack: @escaping @Sendable (IngressResult) -> Void
    ) -> Bool {
        let home = scheduler(for: pid)
        let acceptedAt = home.node.wallNow.nanosecondsSinceEpoch
        let mail = CommittedMail(message, seq: 0, acceptedAt: acceptedAt, slot: nil, fromOutside: true)
        let refusal = refusalAtOnce(key: key)
            ?? submitFromOutside(message, to: pid.serial, codec: codec(M.self), key: key, acceptedAt: acceptedAt,
                                 deliver: PassiveDelivery(mail, for: pid, home: home, core: self), ack: ack)
        guard let refusal else { return true }
        ack(.failed(refusal))
        return false
    }
}

extension Node {
    /// Sends `message` from outside to durable process `pid` and returns
    /// once it is committed: `.accepted`, `.duplicate` if a message with
    /// that key was accepted within the retention window, or `.failed`
    /// with why (no durable process `pid` taking `M`, overloaded, the node
    /// stopping). Unlike sending to an address from `durableAddress`, this
    /// makes no cell for a passivated process: its mail is journaled for
    /// its pid and brings it back once committed.
    public func send<M: Codable & Sendable>(_ message: M, toDurable pid: Pid, key: String?) async -> IngressResult {
        // (A refusal at once is told to `ack` too.)
        await withCheckedContinuation { continuation in
            sendToDurable(message, pid, key: key) { continuation.resume(returning: $0) }
        }
    }

    /// Sends `message` from outside to durable process `pid` without
    /// waiting for its commit (see `send(_:toDurable:key:)`).
    /// - Returns: false if it was refused at once (no durable process
    ///   `pid` taking `M`, overloaded, the node stopping), counted as a dead letter.
    @discardableResult
    public func send<M: Codable & Sendable>(_ message: M, toDurable pid: Pid) -> Bool {
        if sendToDurable(message, pid, key: nil, ack: { _ in }) { return true }
        core.countDeadLetter()
        return false
    }

    @discardableResult
    private func sendToDurable<M: Codable & Sendable>(
        _ message: M, _ pid: Pid, key: String?, ack: @escaping @Sendable (IngressResult) -> Void
    ) -> Bool {
        guard let durable = core.durable else {
            ack(.failed(.notDurable(pid)))
            return false
        }
        switch durable.recipient(pid, taking: M.self) {
        case .live(let cell):
            return durable.ingress(message, to: cell, key: key, slot: nil, ack: ack)
        case .passive:
            return durable.ingress(message, toPassive: pid, key: key, ack: ack)
        case nil:
            ack(.failed(.noProcess(pid.description)))
            return false
        }
    }
}
