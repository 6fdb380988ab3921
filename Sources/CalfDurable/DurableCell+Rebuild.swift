import CalfStore
import CalfControl
import CalfRuntime

/// Where a rebuild of a durable state starts.
package enum RebuildStart<State> {
    /// The behavior's initial state (the log still holds the spawn, or a fresh restart).
    case initial
    /// A snapshot's encoded state.
    case snapshot([UInt8])
    /// A state decoded already.
    case state(State)
}

extension DurableCell {
    /// The one rebuild of a durable state — a restart in place
    /// (`rebuild`), a node start and an offline copy (`Recovery`), a past
    /// state (`pastStateJSON`): the state `start` gives, with `log` replayed
    /// onto it through the handler (effects suppressed, each handling's
    /// output digest checked).
    /// - Throws: `DurableError.undecodable` (a snapshot or message that does
    ///   not decode), `DivergenceError`, or `initialState()`'s error.
    package func rebuiltState(from start: RebuildStart<B.State>, replaying log: ReplayLog) throws -> B.State {
        var state: B.State
        switch start {
        case .initial: state = try behavior.initialState()
        case .snapshot(let bytes): state = try decodedState(bytes)
        case .state(let decoded): state = decoded
        }
        try replay(log, onto: &state)
        return state
    }

    /// A snapshot's state, decoded with this node's addresses.
    package func decodedState(_ bytes: [UInt8]) throws -> B.State {
        do {
            return try DurableDecoding.with(durable) { try stateCodec.decode(from: bytes) }
        } catch {
            throw DurableError.undecodable("its snapshot does not decode as \(B.State.self): \(error)")
        }
    }
}

extension ReplayLog {
    /// The messages handled as `handled`, their accepted records read from `journal`.
    /// - Throws: `DurableError.undecodable` if one is missing, or the store's error.
    package init(handled: [LogRecord.Handled], from journal: Journal, pid: Pid) throws {
        self.init(reservingCapacity: handled.count)
        let records = try journal.records(at: handled.map(\.seq))
        for (entry, record) in zip(handled, records) {
            guard let record, case .accepted(let accepted) = record else {
                throw DurableError.undecodable("journal record \(entry.seq) that \(pid) handled is missing")
            }
            append(entry, accepted)
        }
    }
}
