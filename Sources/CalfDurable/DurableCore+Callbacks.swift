import CalfStore
import CalfControl
import CalfRuntime

/// A durable process that can be handed a callback's delivery.
package protocol CallbackTaking: AnyObject, Sendable {
    /// Journals `arrival` as a message to the process, the callback's entry
    /// marked delivered (with `digest`) in the same commit; the answer once
    /// committed. Nil if its messages cannot carry it.
    func takeCallback(_ arrival: CallbackArrival, key: StoreKey, entry: CallbackEntry) async -> CallbackAnswer?
}

extension DurableCore {
    /// The token of callback `id` of `pid` (the same in replay and after restarts).
    package func callbackToken(pid: UInt64, id: UInt64) -> String {
        CallbackEntry.token(secret: journal.secret, identity: journal.identity, pid: pid, id: id)
    }

    /// Every callback's entry (of `pid` only, if given), with its ledger key, in key order.
    package func callbackEntries(of pid: UInt64?) throws -> [(key: StoreKey, entry: CallbackEntry)] {
        let journal = self.journal
        let prefix = Array("callback/".utf8)
        return try journal.environment.read { txn in
            try txn.withCursor(journal.ledgers) { cursor in
                var found: [(key: StoreKey, entry: CallbackEntry)] = []
                var current = try cursor.seek(atLeast: StoreKey(bytes: prefix))
                while let (key, value) = current, key.starts(with: prefix) {
                    let entry = try CallbackEntry(decoding: try journal.checkedValue(value, key: key, in: journal.ledgers))
                    if pid == nil || entry.pid == pid { found.append((StoreKey(bytes: Array(key)), entry)) }
                    current = try cursor.next()
                }
                return found
            }
        }
    }

    /// The entry under `key`, if it can be read.
    package func callbackEntry(_ key: StoreKey) -> CallbackEntry? {
        let journal = self.journal
        return try? journal.environment.read { txn in
            try journal.checkedValue(txn, journal.ledgers, key: key).map { stored in try CallbackEntry(decoding: stored) }
        }
    }

    /// Delivers a POST to the callback of `token`, exactly once: answered
    /// `.delivered` only after the message and the entry's new status have
    /// committed together; the same body again is `.duplicate`, another is
    /// `.conflict`; an expired or cancelled callback, or one whose process
    /// has exited, is `.gone`.
    package func deliverCallback(token: String, body: [UInt8], contentType: String?) async -> CallbackAnswer {
        guard CallbackEntry.isWellFormed(token) else { return .unknown }
        let key = CallbackEntry.key(token: token)
        let digest = CallbackEntry.digest(body)
        while true {
            guard !closed.load(ordering: .sequentiallyConsistent) else { return .refused("the node is stopping") }
            let entry: CallbackEntry?
            do {
                let journal = self.journal
                entry = try journal.environment.read { txn in
                    try journal.checkedValue(txn, journal.ledgers, key: key).map { stored in try CallbackEntry(decoding: stored) }
                }
            } catch {
                return .refused("its entry cannot be read: \(error)")
            }
            // The hash matched; the token must also be the one this node minted for that entry.
            guard let entry, CallbackEntry.same(callbackToken(pid: entry.pid, id: entry.id), token) else { return .unknown }
            switch entry.status {
            case .delivered(let delivered):
                if delivered == digest { return .duplicate }
                callbackRefusals.withLock { $0[key, default: (0, 0)].conflicting += 1 }
                return .conflict
            case .cancelled:
                callbackRefusals.withLock { $0[key, default: (0, 0)].late += 1 }
                return .gone("the callback was cancelled")
            case .pending: break
            }
            if WallTime.now.nanosecondsSinceEpoch >= entry.expiresAt {
                callbackRefusals.withLock { $0[key, default: (0, 0)].late += 1 }
                return .gone("the callback expired at \(WallTime(nanosecondsSinceEpoch: entry.expiresAt))")
            }
            // One delivery at a time per callback: a second waits for the first's commit, then reads again.
            guard callbackClaims.withLock({ $0.insert(key).inserted }) else {
                try? await Task.sleep(for: .milliseconds(2))
                continue
            }
            defer { _ = callbackClaims.withLock { $0.remove(key) } }
            // A passivated process comes back for its callback.
            let cell = await activeCell(Pid(serial: entry.pid)) as? any CallbackTaking
            guard let cell else {
                callbackRefusals.withLock { $0[key, default: (0, 0)].late += 1 }
                return .gone("its process \(Pid(serial: entry.pid)) has exited")
            }
            let arrival = CallbackArrival(callback: entry.id, body: body, contentType: contentType, receivedAt: WallTime.now)
            var delivered = entry
            delivered.status = .delivered(digest: digest)
            return await cell.takeCallback(arrival, key: key, entry: delivered) ?? .unknown
        }
    }
}

extension DurableCellBase: CallbackTaking {
    package final func takeCallback(_ arrival: CallbackArrival, key: StoreKey, entry: CallbackEntry) async -> CallbackAnswer? {
        guard let type = Message.self as? any CallbackMessage.Type, let message = type.callbackArrived(arrival) as? Message else { return nil }
        let core = durable
        let acceptedAt = arrival.receivedAt.nanosecondsSinceEpoch
        let pid = self.pid.serial
        let batch = CommitBatch()
        let journal = core.journal
        let value = entry.encoded()
        return await withCheckedContinuation { continuation in
            do {
                let start = batch.bytes.count
                _ = try AcceptedRecord.append(to: pid, key: nil, acceptedAt: acceptedAt, into: &batch.bytes) { bytes in
                    try codec.encode(message, appendingTo: &bytes)
                }
                batch.entries.append(.ingress(Ingress(
                    key: nil, acceptedAt: acceptedAt, record: start..<batch.bytes.count,
                    deliver: CommittedMail(message, acceptedAt: acceptedAt, slot: nil, for: self),
                    ack: { result in
                        switch result {
                        case .accepted(let seq): continuation.resume(returning: .delivered(seq: seq))
                        case .duplicate: continuation.resume(returning: .duplicate)
                        case .failed(let refusal): continuation.resume(returning: .refused("\(refusal)"))
                        }
                    })))
            } catch {
                continuation.resume(returning: .refused("the callback's message does not encode: \(error)"))
                return
            }
            batch.entries.append(.write { txn in try journal.putChecked(txn, journal.ledgers, key: key, value: value) })
            core.submit(batch)
        }
    }
}
