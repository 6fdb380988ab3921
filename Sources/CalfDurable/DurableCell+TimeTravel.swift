import CalfStore
import CalfControl
import CalfRuntime

/// What the journal holds of one process up to a log position.
package struct ProcessHistory {
    /// Its spawn record is still in the log: replay starts from its initial state.
    package var fromSpawn = false
    /// The messages it handled in records at or before the position, in order.
    package var handled = ReplayLog()
    /// With `fromSpawn` false: only what came after this seq (its snapshot's).
    package var after: UInt64 = 0
}

extension DurableCore {
    /// Scans the log for `pid`'s history through `seq`: from its spawn if
    /// the log still holds it, else from after `snapshotSeq` (nil: none).
    package func history(of pid: Pid, through seq: UInt64, snapshotSeq: UInt64?) throws -> ProcessHistory {
        var history = ProcessHistory()
        var accepted: [UInt64: LogRecord.Accepted] = [:]
        var progress: [(seq: UInt64, handled: [LogRecord.Handled])] = []
        try journal.scan(from: 1) { at, result in
            guard at <= seq else { return false }
            let record: LogRecord
            switch result {
            case .success(let read):
                record = read
            case .failure(let error):
                // One of its records, or one that names no process, cannot be
                // read: a replay without it could be silently wrong.
                if error.pid == nil || error.pid == pid.serial { throw error }
                return true
            }
            switch record {
            case .accepted(let message) where message.to == pid.serial:
                accepted[at] = message
            case .progress(let owner, let handled) where owner == pid.serial:
                progress.append((at, handled))
            case .lifecycle(let owner, .spawned, _) where owner == pid.serial:
                history.fromSpawn = true
            default:
                break
            }
            return true
        }
        if !history.fromSpawn {
            guard let snapshotSeq, snapshotSeq <= seq else { throw DurableError.historyGone(pid, seq) }
            history.after = snapshotSeq
            progress.removeAll { $0.seq <= snapshotSeq }
        }
        for (_, handled) in progress {
            for entry in handled {
                guard let message = accepted[entry.seq] else {
                    throw DurableError.historyGone(pid, seq)
                }
                history.handled.append(entry, message)
            }
        }
        return history
    }
}

extension DurableCell {
    /// Its state as of log position `seq`: its initial state (or, when the
    /// log no longer holds its spawn, its snapshot if that is older than
    /// `seq`) and a replay, in a sandbox, of what it handled through `seq`.
    /// The live process is not touched; a replay that diverges says so.
    package func pastStateJSON(at seq: UInt64) throws -> [UInt8] {
        // A durable pid carries the seq it was made at: before that it did not exist.
        let born = (pid.serial & ~Pid.durableFlag) >> 8
        guard seq >= born else { throw DurableError.noSuchProcess("\(pid) at \(seq) (it was spawned at \(born))") }
        let loaded = try durable.loadCheckpoint(pid)
        let history = try durable.history(of: pid, through: seq, snapshotSeq: loaded?.stateSeq)
        let start: RebuildStart<B.State>
        if history.fromSpawn {
            start = .initial
        } else if let loaded {
            start = .snapshot(loaded.body.state)
        } else {
            throw DurableError.historyGone(pid, seq)
        }
        return try DurableJSON.encode(try rebuiltState(from: start, replaying: history.handled))
    }
}
