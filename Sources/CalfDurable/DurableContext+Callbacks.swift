import CalfStore
import CalfControl
import CalfRuntime

extension DurableContext where Message: CallbackMessage {
    /// Mints a callback URL that takes one POST until `expiresIn` from this
    /// handling's `now`: its body arrives as the journaled message
    /// `Message.callbackArrived(_:)`, once. The node knows the callback as
    /// soon as this handling commits, which is before anything this
    /// handling sends (an effect's request carrying the URL) can leave: a
    /// fast service cannot call back before the node would take it.
    ///
    /// In replay the same URL comes back (its token derives from the pid
    /// and this handling's seq) and nothing is written.
    /// - Throws: `DurableError.tooManyCallbacks` past 255 in one handling.
    public mutating func callback(expiresIn: Duration) throws -> DurableCallback {
        guard callbackCount < 255 else { throw DurableError.tooManyCallbacks(cell.pid) }
        callbackCount &+= 1
        let id = seq << 8 | UInt64(callbackCount)
        let core = cell.durable
        let expiresAt = now + expiresIn
        digest.add(byte: 11)
        digest.add(id)
        let pid = cell.pid.serial
        let token = core.callbackToken(pid: pid, id: id)
        let key = CallbackEntry.key(token: token)
        // Replay mints the URL the handling minted live: its base is in the entry
        // (the node's public address may have changed since, or be known only later).
        let base = batch == nil ? (core.callbackEntry(key)?.base ?? core.callbackBase.withLock { $0 }) : core.callbackBase.withLock { $0 }
        let callback = DurableCallback(id: id, url: base + "/v1/callbacks/" + token, expiresAt: expiresAt)
        guard let batch else { return callback }
        let entry = CallbackEntry(pid: pid, id: id, expiresAt: expiresAt.nanosecondsSinceEpoch, status: .pending, base: base).encoded()
        let journal = core.journal
        batch.entries.append(.write { txn in
            // A handling run again (a restart in place) finds its callback: what it knows stays.
            if try txn.get(journal.ledgers, key: key) == nil { try journal.putChecked(txn, journal.ledgers, key: key, value: entry) }
        })
        return callback
    }

    /// Cancels `callback` once this handling commits: a POST to it is
    /// answered 410 Gone from then on (one delivered before stays delivered).
    public mutating func cancelCallback(_ callback: DurableCallback) {
        digest.add(byte: 12)
        digest.add(callback.id)
        guard let batch else { return }
        let core = cell.durable
        let key = CallbackEntry.key(token: core.callbackToken(pid: cell.pid.serial, id: callback.id))
        let journal = core.journal
        batch.entries.append(.write { txn in
            guard let stored = try journal.checkedValue(txn, journal.ledgers, key: key) else { return }
            var entry = try CallbackEntry(decoding: stored)
            guard entry.status == .pending else { return }
            entry.status = .cancelled
            try journal.putChecked(txn, journal.ledgers, key: key, value: entry.encoded())
        })
    }
}
