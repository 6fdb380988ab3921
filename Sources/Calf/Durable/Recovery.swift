import CalfStore
import Dispatch
import Synchronization

/// What a node start found in its data directory.
public struct RecoveryReport: Sendable {
    /// Durable processes brought back (serving, or quarantined with a reason).
    public var processes = 0
    /// Messages replayed through handlers (handled since their snapshots).
    public var replayed = 0
    /// Messages put back in mailboxes (accepted, not yet handled).
    public var pending = 0
    /// Log records scanned.
    public var scanned = 0
    /// Processes quarantined, with why.
    public var quarantined: [Pid: String] = [:]
    /// Corrupt log records that name no process (seq and error).
    public var unattributed: [String] = []
    /// Seconds spent reading checkpoints and scanning the log.
    public var scanSeconds = 0.0
    /// Seconds spent rebuilding processes (decoding, replaying, refilling mailboxes).
    public var reviveSeconds = 0.0
}

/// One durable process as the journal describes it, while a start reads it
/// (a class: the scan updates it in place once per record). Exclusivity is
/// not checked at run time on the arrays the scan appends to: one thread
/// (the scan, then the process's scheduler) uses them at a time, and no
/// access overlaps another.
private final class Recovered {
    var behavior: String
    var spec: [UInt8]
    var name: String?
    var stateSeq: UInt64
    var state: [UInt8]?
    var incarnation: UInt64 = 0
    /// Restarts in place: its snapshot's, plus the `restarted` records after it.
    var restarts: UInt64 = 0
    var handled: UInt64 = 0
    /// Seqs the checkpoint lists as waiting.
    var pending: [UInt64] = []
    /// Messages accepted for it in the scanned log, in seq order, their
    /// payloads in `payloads` (one buffer, not an array per message).
    @exclusivity(unchecked) var received: [ReceivedMail] = []
    @exclusivity(unchecked) var payloads: [UInt8] = []
    /// Seqs handled (or dead-lettered) in the scanned log.
    @exclusivity(unchecked) var done: [UInt64] = []
    @exclusivity(unchecked) var replay: [LogRecord.Handled] = []
    var timers: [UInt64: DurableTimer] = [:]
    var exited = false
    var broken: String?

    init(behavior: String, spec: [UInt8], name: String?, stateSeq: UInt64, state: [UInt8]?) {
        self.behavior = behavior
        self.spec = spec
        self.name = name
        self.stateSeq = stateSeq
        self.state = state
    }

    /// Makes room for about `records` messages (growing a thousand arrays
    /// a doubling at a time costs the scan more than the scan itself).
    func reserve(_ records: Int) {
        received.reserveCapacity(records)
        payloads.reserveCapacity(records * 16)
        done.reserveCapacity(records)
        replay.reserveCapacity(records)
    }

    /// Notes a message accepted for it at `seq`.
    func receive(seq: UInt64, acceptedAt: UInt64, payload: UnsafeRawBufferPointer) {
        let start = payloads.count
        payloads.append(contentsOf: payload)
        received.append(ReceivedMail(seq: seq, acceptedAt: acceptedAt, payload: start..<payloads.count))
    }

    /// Where the last `withReceived` found its message, plus one: replay
    /// and refill ask in seq order, so the next is usually there.
    private var nextReceived = 0

    /// Runs `body` with the accepted-at time and payload of the message
    /// received at `seq`; false if the scan did not see it.
    func withReceived(_ seq: UInt64, _ body: (UInt64, UnsafeRawBufferPointer) throws -> Void) rethrows -> Bool {
        var low = 0, high = received.count
        if nextReceived < received.count, received[nextReceived].seq == seq {
            low = nextReceived
        } else {
            while low < high {
                let middle = (low + high) / 2
                if received[middle].seq < seq { low = middle + 1 } else { high = middle }
            }
            guard low < received.count, received[low].seq == seq else { return false }
        }
        nextReceived = low + 1
        let mail = received[low]
        try payloads.withUnsafeBytes { try body(mail.acceptedAt, UnsafeRawBufferPointer(rebasing: $0[mail.payload])) }
        return true
    }
}

/// A message the scan found for a process: where, when, and its payload's place.
private struct ReceivedMail {
    var seq: UInt64
    var acceptedAt: UInt64
    var payload: Range<Int>
}

/// Finds the message accepted at a seq and runs a body with its accepted-at
/// time and payload (read from the scan, else from the journal).
private typealias MailLookup = (UInt64, (UInt64, UnsafeRawBufferPointer) throws -> Void) throws -> Void

extension DurableCore {
    /// Brings back every durable process of the journal: checkpoints, then
    /// one scan of the log from the last round's position, then each
    /// process's replay; starts them. Returns what it found.
    func recover() throws -> RecoveryReport {
        var report = RecoveryReport()
        let started = monotonicNanoseconds()
        var processes: [UInt64: Recovered] = [:]
        var broken: [UInt64: String] = [:]
        /// Processes whose snapshot could not be read (their pid, its key, is sure).
        var unreadableCheckpoints: Set<UInt64> = []
        var keys: [String: IdempotencyKeys.Entry] = [:]
        var scanFrom: UInt64 = 1
        let checkpoints = journal.checkpoints
        let meta = journal.meta
        let keysDB = journal.keys
        let journal = self.journal
        try journal.environment.read { txn in
            if let value = try txn.get(meta, key: StoreKey(MetaKey.scanFrom)), let seq = StoreKey.uint64(in: value) {
                scanFrom = max(1, seq)
            }
            try txn.withCursor(checkpoints) { cursor in
                var entry = try cursor.first()
                while let (key, value) = entry {
                    if let pid = StoreKey.uint64(in: key) {
                        do {
                            let value = try journal.checkedValue(value, key: key, in: checkpoints)
                            guard value.count >= 8, let stateSeq = StoreKey.uint64(in: value) else {
                                throw LogRecordError(seq: nil, pid: pid, reason: "checkpoint of \(value.count) bytes")
                            }
                            let body = try CheckpointBody(decoding: UnsafeRawBufferPointer(rebasing: value[8...]), pid: pid)
                            let process = Recovered(behavior: body.behavior, spec: body.spec, name: body.name, stateSeq: stateSeq, state: body.state)
                            process.incarnation = body.incarnation
                            process.restarts = body.restarts
                            process.handled = body.handled
                            process.pending = body.pending
                            for timer in body.timers { process.timers[timer.id] = timer }
                            processes[pid] = process
                        } catch {
                            broken[pid] = "its checkpoint is unreadable: \(error)"
                            unreadableCheckpoints.insert(pid)
                        }
                    }
                    entry = try cursor.next()
                }
            }
            try txn.withCursor(keysDB) { cursor in
                var entry = try cursor.first()
                while let (key, value) = entry {
                    if let name = String(validating: key, as: UTF8.self), let seq = StoreKey.uint64(in: value),
                       let acceptedAt = StoreKey.uint64(in: value, at: 8) {
                        keys[name] = IdempotencyKeys.Entry(seq: seq, acceptedAt: acceptedAt)
                    }
                    entry = try cursor.next()
                }
            }
        }
        // Room for each process's share of the log to scan (bounded: a guess).
        let share = min(4096, Int(clamping: journal.lastSeq &- min(scanFrom, journal.lastSeq)) / max(1, processes.count))
        if share > 16 { for process in processes.values { process.reserve(share) } }
        try journal.scanStored(from: scanFrom) { at, stored in
            report.scanned += 1
            let result: Result<LogRecord, LogRecordError>
            do throws(LogRecordError) {
                let bytes = try stored.get()
                guard let seq = at else { throw LogRecordError.malformedKey(bytes.count) }
                // Accepted records, most of the log, are read in place.
                if let accepted = try LogRecord.acceptedFields(in: bytes, seq: seq) {
                    if let key = accepted.key { keys[key] = IdempotencyKeys.Entry(seq: seq, acceptedAt: accepted.acceptedAt) }
                    if let process = processes[accepted.to], !process.exited {
                        process.receive(seq: seq, acceptedAt: accepted.acceptedAt, payload: UnsafeRawBufferPointer(rebasing: bytes[accepted.payloadStart...]))
                    }
                    return true
                }
                if let progress = try LogRecord.progressFields(in: bytes, seq: seq) {
                    guard let process = processes[progress.pid] else { return true }
                    for entry in progress.handled { process.done.append(entry.seq) }
                    if seq > process.stateSeq { process.replay.append(contentsOf: progress.handled) }
                    return true
                }
                result = .success(try LogRecord(decoding: bytes, seq: seq))
            } catch {
                result = .failure(error)
            }
            let seq = at ?? 0
            switch result {
            case .failure(let error):
                if let pid = error.pid {
                    broken[pid] = broken[pid] ?? "\(error)"
                } else {
                    report.unattributed.append("\(error)")
                }
            case .success(.accepted), .success(.progress):
                break // read in place above
            case .success(.lifecycle(let pid, let event, let detail)):
                do throws(LogRecordError) {
                    try apply(event, detail: detail, pid: pid, seq: seq, to: &processes)
                } catch {
                    broken[pid] = broken[pid] ?? "log record \(seq): \(error.reason)"
                }
            }
            return true
        }
        writer.restoreKeys(keys)
        let scanned = monotonicNanoseconds()
        report.scanSeconds = Double(scanned - started) / 1e9
        // A process with an unreadable record comes back quarantined: its
        // name stays its own (a supervisor adopts it, not a fresh process in
        // its place), its mail waits, and the operator sees why.
        for (pid, reason) in broken where processes[pid]?.exited != true {
            guard let process = processes[pid] else {
                if unreadableCheckpoints.contains(pid) {
                    report.quarantined[Pid(serial: pid)] = reason
                } else {
                    // Its bytes name a process the journal does not know: the damage may be in the name itself.
                    report.unattributed.append("\(reason) (it names \(Pid(serial: pid)), which is no process of this journal)")
                }
                continue
            }
            process.broken = reason
            report.quarantined[Pid(serial: pid)] = reason
        }
        for problem in report.unattributed {
            reportProblem("\(problem); it cannot be traced to its process, the others carry on", level: .error)
        }
        if !report.quarantined.isEmpty { pinnedScanFrom.store(scanFrom, ordering: .relaxed) }
        // Every cell exists (and has its name) before any replays: a replayed
        // send by name must find the same process it found the first time.
        var revivals: [(Pid, () throws -> (replayed: Int, pending: Int))] = []
        for (serial, process) in processes where !process.exited {
            let pid = Pid(serial: serial)
            guard let type = registry[process.behavior] else {
                report.quarantined[pid] = report.quarantined[pid] ?? "no behavior named '\(process.behavior)' is registered with this node"
                pinnedScanFrom.store(scanFrom, ordering: .relaxed)
                continue
            }
            do {
                let finish = try revive(type, pid: pid, process) { seq, body in
                    if try process.withReceived(seq, body) { return }
                    guard let record = try journal.record(at: seq), case .accepted(let accepted) = record else {
                        throw DurableError.undecodable("journal record \(seq) that \(pid) needs is missing")
                    }
                    try accepted.payload.withUnsafeBytes { try body(accepted.acceptedAt, $0) }
                }
                revivals.append((pid, finish))
            } catch {
                report.quarantined[pid] = report.quarantined[pid] ?? "\(error)"
                pinnedScanFrom.store(scanFrom, ordering: .relaxed)
            }
        }
        // Each scheduler replays its own processes: in parallel, on the
        // threads that will own them.
        let outcomes = Locked<[(Pid, Result<(replayed: Int, pending: Int), any Error>)]>([])
        let finished = DispatchSemaphore(value: 0)
        let groups = Dictionary(grouping: revivals) { ObjectIdentifier(scheduler(for: $0.0)) }
        for (_, group) in groups {
            let work = UncheckedBox(group)
            scheduler(for: group[0].0).loop.execute {
                var results: [(Pid, Result<(replayed: Int, pending: Int), any Error>)] = []
                for (pid, finish) in work.value { results.append((pid, Result { try finish() })) }
                outcomes.withLock { $0.append(contentsOf: results) }
                finished.signal()
            }
        }
        for _ in groups { finished.wait() }
        for (pid, outcome) in outcomes.withLock({ $0 }) {
            switch outcome {
            case .success(let counts):
                report.processes += 1
                report.replayed += counts.replayed
                report.pending += counts.pending
            case .failure(let error):
                // Its cell stays, quarantined (see `revive`).
                report.processes += 1
                report.quarantined[pid] = report.quarantined[pid] ?? "\(error)"
                pinnedScanFrom.store(scanFrom, ordering: .relaxed)
            }
        }
        for (pid, reason) in report.quarantined { noteQuarantine(pid, reason: reason) }
        // A quarantined process without a cell (its snapshot unreadable, its
        // spawn long dropped from the log) still holds its name: nothing
        // fresh is started in its place.
        let unrevived = Set(report.quarantined.keys.filter { cell($0) == nil }.map(\.serial))
        if !unrevived.isEmpty { try reserveNames(of: unrevived) }
        report.reviveSeconds = Double(monotonicNanoseconds() - scanned) / 1e9
        return report
    }

    /// Holds the names the `names` database gives `pids` for them.
    private func reserveNames(of pids: Set<UInt64>) throws {
        let names = journal.names
        let found: [(String, UInt64)] = try journal.environment.read { txn in
            try txn.withCursor(names) { cursor in
                var found: [(String, UInt64)] = []
                var entry = try cursor.first()
                while let (key, value) = entry {
                    if let pid = StoreKey.uint64(in: value), pids.contains(pid), let name = String(validating: key, as: UTF8.self) {
                        found.append((name, pid))
                    }
                    entry = try cursor.next()
                }
                return found
            }
        }
        table.withLock { table in
            for (name, pid) in found where table.names[name] == nil { table.names[name] = Pid(serial: pid) }
        }
    }

    private func read(_ bytes: [UInt8], what: String, _ body: (inout ByteReader) throws(LogRecordError) -> Void) throws(LogRecordError) {
        let outcome: Result<Void, LogRecordError> = bytes.withUnsafeBytes { buffer in
            var reader = ByteReader(buffer, what: what)
            do throws(LogRecordError) {
                try body(&reader)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try outcome.get()
    }

    private func apply(_ event: LifecycleEvent, detail: [UInt8], pid: UInt64, seq: UInt64, to processes: inout [UInt64: Recovered]) throws(LogRecordError) {
        switch event {
        case .spawned:
            let spawn = try SpawnDetail(decoding: detail, pid: pid)
            // A checkpoint read before the scan is newer than the spawn.
            guard processes[pid] == nil else { break }
            processes[pid] = Recovered(behavior: spawn.behavior, spec: spawn.spec, name: spawn.name, stateSeq: seq, state: nil)
        case .exited:
            processes[pid]?.exited = true
        case .deadLettered:
            try read(detail, what: "dead letter record") { reader throws(LogRecordError) in
                processes[pid]?.done.append(try reader.varint("seq"))
            }
        case .timerSet:
            try read(detail, what: "timer record") { reader throws(LogRecordError) in
                let timer = try DurableTimer(reading: &reader)
                processes[pid]?.timers[timer.id] = timer
            }
        case .timerFired:
            try read(detail, what: "timer firing record") { reader throws(LogRecordError) in
                let id = try reader.varint("timer id")
                let nextDue = try reader.varint("next due time")
                if nextDue == 0 { processes[pid]?.timers[id] = nil } else { processes[pid]?.timers[id]?.due = nextDue }
            }
        case .timerCancelled:
            try read(detail, what: "timer cancel record") { reader throws(LogRecordError) in
                processes[pid]?.timers[try reader.varint("timer id")] = nil
            }
        case .restarted:
            if let process = processes[pid], seq > process.stateSeq { process.restarts &+= 1 }
        case .quarantined:
            break
        }
    }

    /// The seqs still waiting for `process`: listed by its checkpoint or
    /// accepted in the scan, minus those handled, in seq order, once each.
    private static func waiting(_ process: Recovered) -> [UInt64] {
        var candidates = process.pending
        candidates.append(contentsOf: process.received.lazy.map(\.seq))
        candidates.sort()
        let done = process.done.sorted()
        var result: [UInt64] = []
        var d = 0
        var previous: UInt64?
        for seq in candidates where seq != previous {
            previous = seq
            while d < done.count, done[d] < seq { d += 1 }
            if d < done.count, done[d] == seq { continue }
            result.append(seq)
        }
        return result
    }

    /// Builds the cell of one recovered process and enters it in the table;
    /// returns the rest of its revival: replay what it handled since its
    /// snapshot, refill its mailbox, start it.
    private func revive<B: DurableBehavior>(
        _ type: B.Type, pid: Pid, _ process: Recovered, payload: @escaping MailLookup
    ) throws -> () throws -> (replayed: Int, pending: Int) {
        let behavior: B
        do {
            behavior = try DurableDecoding.with(self) { try BinaryDecoder().decode(B.self, from: process.spec) }
        } catch {
            throw DurableError.undecodable("its behavior \(B.behaviorName) does not decode: \(error)")
        }
        // The snapshot is decoded once every cell exists (the revival's second
        // step), so addresses in it find their processes; until then the cell
        // holds the initial state.
        let state: B.State
        var snapshotDecoded = false
        if let initial = try? behavior.initialState() {
            state = initial
        } else if process.state != nil {
            state = try decodeSnapshot(B.self, process)
            snapshotDecoded = true
        } else {
            state = try behavior.initialState()
        }
        let cell = DurableCell(behavior: behavior, spec: process.spec, state: state, pid: pid, scheduler: scheduler(for: pid), durable: self, name: process.name)
        enter(cell)
        return { [self] in
            do {
                if let reason = process.broken { throw DurableError.undecodable(reason) }
                let start = snapshotDecoded || process.state == nil ? state : try decodeSnapshot(B.self, process)
                return try finishRevival(cell, process, state: start, payload: payload)
            } catch {
                // Started quarantined: visible, named, its mail waiting; nothing replayed.
                cell.phase = .quarantined(process.broken ?? "\(error)")
                start(cell)
                throw error
            }
        }
    }

    private func decodeSnapshot<B: DurableBehavior>(_ type: B.Type, _ process: Recovered) throws -> B.State {
        do {
            return try DurableDecoding.with(self) { try JournalCodec<B.State>().decode(from: process.state ?? []) }
        } catch {
            throw DurableError.undecodable("its snapshot does not decode as \(B.State.self): \(error)")
        }
    }

    private func finishRevival<B: DurableBehavior>(
        _ cell: DurableCell<B>, _ process: Recovered, state initial: B.State, payload: MailLookup
    ) throws -> (replayed: Int, pending: Int) {
        let pid = cell.pid
        var state = initial
        var log = ReplayLog(reservingCapacity: process.replay.count)
        for entry in process.replay {
            try payload(entry.seq) { acceptedAt, bytes in log.append(entry, acceptedAt: acceptedAt, payload: bytes) }
        }
        try cell.replay(log, onto: &state)
        cell.state = state
        cell.sinceSnapshot = process.replay
        cell.handled = process.handled &+ UInt64(process.replay.count)
        cell.incarnation = process.incarnation &+ 1
        cell.restarts = process.restarts
        let pending = Self.waiting(process)
        try DurableDecoding.with(self) {
            for seq in pending {
                try payload(seq) { acceptedAt, bytes in
                    let message: B.Message
                    do {
                        message = try cell.codec.decode(from: bytes)
                    } catch {
                        throw DurableError.undecodable("journal record \(seq) for \(pid) does not decode as \(B.Message.self): \(error)")
                    }
                    cell.restoreMail(JournaledMail(message, seq: seq, acceptedAt: acceptedAt, slot: nil))
                }
            }
        }
        start(cell, timers: process.timers.values.sorted { $0.id < $1.id })
        return (process.replay.count, pending.count)
    }
}
