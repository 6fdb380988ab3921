import CalfStore
import CalfControl
import CalfRuntime

/// One durable process as the journal describes it, while a start reads it
/// (a class: the scan updates it in place once per record). Exclusivity is
/// not checked at run time on the arrays the scan appends to: one thread
/// (the scan, then the process's scheduler) uses them at a time, and no
/// access overlaps another.
package final class Recovered {
    package var behavior: String
    package var spec: [UInt8]
    package var name: String?
    package var stateSeq: UInt64
    package var state: [UInt8]?
    package var incarnation: UInt64 = 0
    /// Restarts in place: its snapshot's, plus the `restarted` records after it.
    package var restarts: UInt64 = 0
    package var handled: UInt64 = 0
    /// Seqs the checkpoint lists as waiting.
    package var pending: [UInt64] = []
    /// Messages accepted for it in the scanned log, in seq order, their
    /// payloads in `payloads` (one buffer, not an array per message).
    @exclusivity(unchecked) package var received: [ReceivedMail] = []
    @exclusivity(unchecked) package var payloads: [UInt8] = []
    /// Seqs handled (or dead-lettered) in the scanned log.
    @exclusivity(unchecked) package var done: [UInt64] = []
    @exclusivity(unchecked) package var replay: [LogRecord.Handled] = []
    package var timers: [UInt64: DurableTimer] = [:]
    /// Its durable effects under way, by id.
    package var effects: [UInt64: EffectRecord] = [:]
    package var exited = false
    package var broken: String?
    /// Its snapshot is the one it left RAM with (passivation).
    package var passivated = false
    /// Its snapshot's behavior spec and state were not read (passivated:
    /// read again if it comes back at the start, `DurableCore.makeCells`).
    package var lean = false
    /// The scanned log holds a record of it after its snapshot.
    package var touched = false

    package init(behavior: String, spec: [UInt8], name: String?, stateSeq: UInt64, state: [UInt8]?) {
        self.behavior = behavior
        self.spec = spec
        self.name = name
        self.stateSeq = stateSeq
        self.state = state
    }

    /// Makes room for about `records` messages (growing a thousand arrays
    /// a doubling at a time costs the scan more than the scan itself).
    package func reserve(_ records: Int) {
        received.reserveCapacity(records)
        payloads.reserveCapacity(records * 16)
        done.reserveCapacity(records)
        replay.reserveCapacity(records)
    }

    /// Notes a message accepted for it at `seq`.
    package func receive(seq: UInt64, acceptedAt: UInt64, payload: UnsafeRawBufferPointer) {
        let start = payloads.count
        payloads.append(contentsOf: payload)
        received.append(ReceivedMail(seq: seq, acceptedAt: acceptedAt, payload: start..<payloads.count))
    }

    /// Where the last `withReceived` found its message, plus one: replay
    /// and refill ask in seq order, so the next is usually there.
    private var nextReceived = 0

    /// Runs `body` with the accepted-at time and payload of the message
    /// received at `seq`; false if the scan did not see it.
    package func withReceived(_ seq: UInt64, _ body: (UInt64, UnsafeRawBufferPointer) throws -> Void) rethrows -> Bool {
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
package struct ReceivedMail {
    package var seq: UInt64
    package var acceptedAt: UInt64
    package var payload: Range<Int>
}

/// Finds the message accepted at a seq and runs a body with its accepted-at
/// time and payload (read from the scan, else from the journal).
package typealias MailLookup = (UInt64, (UInt64, UnsafeRawBufferPointer) throws -> Void) throws -> Void

/// A passivated process as its snapshot tells it, while a node start has
/// seen nothing else of it (a struct in a table: most of a million
/// processes are these, and come to nothing more).
package struct PassiveSeed {
    package var entry: PassiveEntry
    package var stateSeq: UInt64
    package var incarnation: UInt64
    package var timers: [DurableTimer]

    /// The process as the scan follows it once the log names it (its
    /// snapshot's spec and state read again if it comes back).
    package func recovered() -> Recovered {
        let process = Recovered(behavior: entry.behavior, spec: [], name: entry.name, stateSeq: stateSeq, state: [])
        process.incarnation = incarnation
        process.restarts = entry.restarts
        process.handled = entry.handled
        process.passivated = true
        process.lean = true
        for timer in timers { process.timers[timer.id] = timer }
        return process
    }
}

/// What the first phases of a node start find in the journal.
package struct JournalFindings {
    /// The processes, by pid serial.
    package var processes: [UInt64: Recovered] = [:]
    /// Passivated processes the log has not named (yet), by pid serial.
    package var passive: [UInt64: PassiveSeed] = [:]

    /// Process `pid`, followed as a `Recovered` from now on if it was a
    /// passive seed (the log names it); nil if the journal has no such process.
    package mutating func process(_ pid: UInt64) -> Recovered? {
        if let process = processes[pid] { return process }
        guard let seed = passive.removeValue(forKey: pid) else { return nil }
        let process = seed.recovered()
        processes[pid] = process
        return process
    }
    /// Why a process's records cannot be read, by pid serial.
    package var broken: [UInt64: String] = [:]
    /// Processes whose snapshot could not be read (their pid, its key, is sure).
    package var unreadableCheckpoints: Set<UInt64> = []
    /// The idempotency keys within reach.
    package var keys: [String: IdempotencyKeys.Entry] = [:]
    /// Where the scan began: everything before it is in the snapshots.
    package var scanFrom: UInt64 = 1
    /// Log records scanned.
    package var scanned = 0
    /// Unreadable records that name no process.
    package var unattributed: [String] = []
}

/// The phases of a node start that only read the journal: the snapshots and
/// keys, one scan of the log, which processes come back quarantined. No
/// process is made here (that is `DurableCore.recover`).
package enum RecoveryScan {
    /// Phase 1: every snapshot (its process as it was then), the keys, and
    /// where the log scan begins.
    package static func readCheckpoints(_ journal: Journal) throws -> JournalFindings {
        var findings = JournalFindings()
        let checkpoints = journal.checkpoints
        let meta = journal.meta
        let keysDB = journal.keys
        try journal.environment.read { txn in
            if let value = try txn.get(meta, key: StoreKey(MetaKey.scanFrom)), let seq = StoreKey.uint64(in: value) {
                findings.scanFrom = max(1, seq)
            }
            let count = try txn.count(checkpoints)
            findings.processes.reserveCapacity(min(count, 1 << 16))
            findings.passive.reserveCapacity(count)
            try txn.withCursor(checkpoints) { cursor in
                var entry = try cursor.first()
                while let (key, value) = entry {
                    if let pid = StoreKey.uint64(in: key) {
                        do {
                            switch try process(fromCheckpoint: journal.checkedValue(value, key: key, in: checkpoints), pid: pid) {
                            case .seed(let seed): findings.passive[pid] = seed
                            case .process(let process): findings.processes[pid] = process
                            }
                        } catch {
                            findings.broken[pid] = "its checkpoint is unreadable: \(error)"
                            findings.unreadableCheckpoints.insert(pid)
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
                        findings.keys[name] = IdempotencyKeys.Entry(seq: seq, acceptedAt: acceptedAt)
                    }
                    entry = try cursor.next()
                }
            }
        }
        return findings
    }

    /// A snapshot read: a passivated process's seed, or a process.
    private enum Read {
        case seed(PassiveSeed)
        case process(Recovered)
    }

    private static func process(fromCheckpoint value: UnsafeRawBufferPointer, pid: UInt64) throws -> Read {
        guard value.count >= 8, let stateSeq = StoreKey.uint64(in: value) else {
            throw LogRecordError(seq: nil, pid: pid, reason: "checkpoint of \(value.count) bytes")
        }
        let body = try CheckpointBody(decoding: UnsafeRawBufferPointer(rebasing: value[8...]), pid: pid, lean: true)
        if body.passivated, body.pending.isEmpty, body.effects.isEmpty {
            let entry = PassiveEntry(behavior: body.behavior, name: body.name, handled: body.handled, restarts: body.restarts, linked: nil)
            return .seed(PassiveSeed(entry: entry, stateSeq: stateSeq, incarnation: body.incarnation, timers: body.timers))
        }
        let process = Recovered(behavior: body.behavior, spec: body.spec, name: body.name, stateSeq: stateSeq, state: body.state)
        process.incarnation = body.incarnation
        process.restarts = body.restarts
        process.handled = body.handled
        process.passivated = body.passivated
        process.lean = body.passivated
        process.pending = body.pending
        for timer in body.timers { process.timers[timer.id] = timer }
        for effect in body.effects { process.effects[effect.id] = effect }
        return .process(process)
    }

    /// Phase 2: one scan of the log from `findings.scanFrom`: messages each
    /// process received, what it handled (and must replay), its lifecycle
    /// (spawns, exits, timers), the keys, the records that cannot be read.
    package static func scanLog(_ journal: Journal, into findings: inout JournalFindings) throws {
        // Room for each process's share of the log to scan (bounded: a guess).
        let scanFrom = findings.scanFrom
        let share = min(4096, Int(clamping: journal.lastSeq &- min(scanFrom, journal.lastSeq)) / max(1, findings.processes.count + findings.passive.count))
        if share > 16 { for process in findings.processes.values { process.reserve(share) } }
        try journal.scanStored(from: scanFrom) { at, stored in
            findings.scanned += 1
            let result: Result<LogRecord, LogRecordError>
            do throws(LogRecordError) {
                let bytes = try stored.get()
                guard let seq = at else { throw LogRecordError.malformedKey(bytes.count) }
                // Accepted records, most of the log, are read in place.
                if let accepted = try LogRecord.acceptedFields(in: bytes, seq: seq) {
                    if let key = accepted.key { findings.keys[key] = IdempotencyKeys.Entry(seq: seq, acceptedAt: accepted.acceptedAt) }
                    if let process = findings.process(accepted.to), !process.exited {
                        if seq > process.stateSeq { process.touched = true }
                        process.receive(seq: seq, acceptedAt: accepted.acceptedAt, payload: UnsafeRawBufferPointer(rebasing: bytes[accepted.payloadStart...]))
                    }
                    return true
                }
                if let progress = try LogRecord.progressFields(in: bytes, seq: seq) {
                    guard let process = findings.process(progress.pid) else { return true }
                    if seq > process.stateSeq { process.touched = true }
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
                    findings.broken[pid] = findings.broken[pid] ?? "\(error)"
                } else {
                    findings.unattributed.append("\(error)")
                }
            case .success(.accepted), .success(.progress):
                break // read in place above
            case .success(.lifecycle(let pid, let event, let detail)):
                // (A seed becomes a process first: a spawn record must find it.)
                if let process = findings.process(pid), seq > process.stateSeq { process.touched = true }
                do throws(LogRecordError) {
                    try apply(event, detail: detail, pid: pid, seq: seq, to: &findings.processes)
                } catch {
                    findings.broken[pid] = findings.broken[pid] ?? "log record \(seq): \(error.reason)"
                }
            }
            return true
        }
    }

    /// Phase 3: a process with an unreadable record comes back quarantined:
    /// its name stays its own (a supervisor adopts it, not a fresh process
    /// in its place), its mail waits, and the operator sees why. Damage in
    /// a record naming no process of the journal cannot be traced to one.
    /// Marks the quarantined processes `broken`; returns them, and the
    /// problems traced to nobody.
    package static func quarantine(_ findings: inout JournalFindings) -> (quarantined: [Pid: String], unattributed: [String]) {
        var quarantined: [Pid: String] = [:]
        var unattributed = findings.unattributed
        for pid in findings.broken.keys { _ = findings.process(pid) }
        for (pid, reason) in findings.broken where findings.processes[pid]?.exited != true {
            guard let process = findings.processes[pid] else {
                if findings.unreadableCheckpoints.contains(pid) {
                    quarantined[Pid(serial: pid)] = reason
                } else {
                    // Its bytes name a process the journal does not know: the damage may be in the name itself.
                    unattributed.append("\(reason) (it names \(Pid(serial: pid)), which is no process of this journal)")
                }
                continue
            }
            process.broken = reason
            quarantined[Pid(serial: pid)] = reason
        }
        return (quarantined, unattributed)
    }

    private static func read(_ bytes: [UInt8], what: String, _ body: (inout ByteReader) throws(LogRecordError) -> Void) throws(LogRecordError) {
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

    private static func apply(_ event: LifecycleEvent, detail: [UInt8], pid: UInt64, seq: UInt64, to processes: inout [UInt64: Recovered]) throws(LogRecordError) {
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
        case .effectStarted:
            try read(detail, what: "effect record") { reader throws(LogRecordError) in
                let effect = try EffectRecord(reading: &reader)
                processes[pid]?.effects[effect.id] = effect
            }
        case .effectFinished:
            try read(detail, what: "effect end record") { reader throws(LogRecordError) in
                processes[pid]?.effects[try reader.varint("effect id")] = nil
            }
        case .restarted:
            if let process = processes[pid], seq > process.stateSeq { process.restarts &+= 1 }
        case .quarantined:
            break
        }
    }

    /// The seqs still waiting for `process`: listed by its checkpoint or
    /// accepted in the scan, minus those handled, in seq order, once each.
    package static func waiting(_ process: Recovered) -> [UInt64] {
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

}
