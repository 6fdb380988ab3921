import CalfStore
import Dispatch
import Synchronization
import CalfControl
import CalfRuntime

/// What a node start found in its data directory.
public struct RecoveryReport: Sendable {
    /// Durable processes brought back (serving, or quarantined with a reason).
    public var processes = 0
    /// Durable processes left out of RAM (passivated, with nothing for
    /// them in the log since): they come back with their next mail.
    public var passivated = 0
    /// Messages replayed through handlers (handled since their snapshots).
    public var replayed = 0
    /// Messages put back in mailboxes (accepted, not yet handled).
    public var pending = 0
    /// Log records scanned.
    public var scanned = 0
    /// Processes quarantined, with why.
    public var quarantined: [Pid: String] = [:]
    /// Of those, the ones whose behavior this node does not have: its
    /// name as the journal gives it (`flow:reboot@1`, say), and the
    /// process's registered name.
    public var unknownBehaviors: [Pid: UnknownBehavior] = [:]
    /// Corrupt log records that name no process (seq and error).
    public var unattributed: [String] = []
    /// Seconds spent reading checkpoints and scanning the log.
    public var scanSeconds = 0.0
    /// Seconds spent rebuilding processes (decoding, replaying, refilling mailboxes).
    public var reviveSeconds = 0.0
}

/// A durable process of the journal whose behavior a node does not have.
public struct UnknownBehavior: Sendable, Equatable {
    /// The behavior's name, as journaled.
    public var behavior: String
    /// The process's registered name, if it has one.
    public var name: String?

    /// The behavior's name and version when it is versioned (`NAME@VERSION`).
    public var versioned: (name: String, version: Int)? {
        guard let at = behavior.lastIndex(of: "@"), let version = Int(behavior[behavior.index(after: at)...]) else { return nil }
        return (String(behavior[..<at]), version)
    }
}

extension DurableCore {
    /// Brings back every durable process of the journal: checkpoints, then
    /// one scan of the log from the last round's position (`RecoveryScan`),
    /// then each process's replay on its scheduler; starts them. Returns what it found.
    package func recover() throws -> RecoveryReport {
        var report = RecoveryReport()
        let started = monotonicNanoseconds()
        // 1, 2: what the journal holds (RecoveryScan).
        var findings = try RecoveryScan.readCheckpoints(journal)
        try RecoveryScan.scanLog(journal, into: &findings)
        writer.restoreKeys(findings.keys)
        report.scanned = findings.scanned
        let scanned = monotonicNanoseconds()
        report.scanSeconds = Double(scanned - started) / 1e9
        // 3: which processes come back quarantined, and damage nobody can be blamed for.
        (report.quarantined, report.unattributed) = RecoveryScan.quarantine(&findings)
        for problem in report.unattributed {
            reportProblem("\(problem); it cannot be traced to its process, the others carry on", level: .error)
        }
        if !report.quarantined.isEmpty { pinnedScanFrom.store(findings.scanFrom, ordering: .relaxed) }
        // 4: every cell, before any replays.
        let revivals = makeCells(findings, report: &report)
        // 5: each scheduler replays its own.
        replayOnSchedulers(revivals, scanFrom: findings.scanFrom, report: &report)
        // 6: the quarantined keep their names.
        try holdNames(report)
        report.reviveSeconds = Double(monotonicNanoseconds() - scanned) / 1e9
        return report
    }

    /// Why a process of behavior `name` cannot run here; a versioned name
    /// (`flow:reboot@1`) names the versions of it this node does have.
    private func unknownBehaviorReason(_ name: String) -> String {
        var reason = "no behavior named '\(name)' is registered with this node"
        if let at = name.lastIndex(of: "@") {
            let others = registry.keys.filter { $0.hasPrefix(name[...at]) }.sorted()
            reason += others.isEmpty ? " (nor any other version of it)" : " (it has \(others.joined(separator: ", ")))"
            reason += ": a binary with that version must run it"
        }
        return reason
    }

    /// Makes the cell of every process that did not exit (entered in the
    /// table with its name), so that a replayed send by name finds the same
    /// process it found the first time; returns the rest of each revival.
    private func makeCells(_ findings: JournalFindings, report: inout RecoveryReport) -> [(Pid, () throws -> (replayed: Int, pending: Int))] {
        var revivals: [(Pid, () throws -> (replayed: Int, pending: Int))] = []
        let journal = self.journal
        // Passivated processes the log never named: out of RAM, entered all at once.
        var passive = findings.passive
        var last: (behavior: String, type: (any DurableBehavior.Type)?)?
        for (serial, seed) in findings.passive {
            let behavior = seed.entry.behavior
            // Most share one behavior: asked of the registry once per run of the same name.
            if last?.behavior != behavior { last = (behavior, registry[behavior]) }
            guard let type = last?.type else {
                let pid = Pid(serial: serial)
                passive[serial] = nil
                report.quarantined[pid] = unknownBehaviorReason(behavior)
                report.unknownBehaviors[pid] = UnknownBehavior(behavior: behavior, name: seed.entry.name)
                pinnedScanFrom.store(findings.scanFrom, ordering: .relaxed)
                continue
            }
            if seed.entry.name != nil || !seed.timers.isEmpty {
                holdPassive(type, pid: Pid(serial: serial), name: seed.entry.name, earliestDue: seed.timers.map(\.due).min())
            }
        }
        report.passivated += passive.count
        table.withLock { table in
            table.passive.reserveCapacity(passive.count + findings.processes.count)
            for (serial, seed) in passive { table.passive[Pid(serial: serial)] = seed.entry }
        }
        for (serial, process) in findings.processes where !process.exited {
            let pid = Pid(serial: serial)
            guard let type = registry[process.behavior] else {
                report.quarantined[pid] = report.quarantined[pid] ?? unknownBehaviorReason(process.behavior)
                report.unknownBehaviors[pid] = UnknownBehavior(behavior: process.behavior, name: process.name)
                pinnedScanFrom.store(findings.scanFrom, ordering: .relaxed)
                continue
            }
            // Mail committed with or after its passivation's snapshot (a
            // commit can hold both, the mail's record first) waits for it:
            // it comes back for that as for any later record.
            if process.passivated, !process.touched, process.broken == nil, RecoveryScan.waiting(process).isEmpty {
                enterPassive(type, pid: pid, process)
                report.passivated += 1
                continue
            }
            do {
                if process.lean {
                    // Its snapshot was read without its contents (passivated): it comes back after all.
                    guard let (_, body) = try loadCheckpoint(pid) else { throw DurableError.undecodable("its snapshot is gone") }
                    process.spec = body.spec
                    process.state = body.state
                    process.lean = false
                }
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
                pinnedScanFrom.store(findings.scanFrom, ordering: .relaxed)
            }
        }
        return revivals
    }

    /// Runs the revivals, each scheduler its own processes, in parallel, on
    /// the threads that will own them; counts what they replayed and refilled.
    private func replayOnSchedulers(_ revivals: [(Pid, () throws -> (replayed: Int, pending: Int))], scanFrom: UInt64, report: inout RecoveryReport) {
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
            report.processes += 1
            switch outcome {
            case .success(let counts):
                report.replayed += counts.replayed
                report.pending += counts.pending
            case .failure(let error):
                // Its cell stays, quarantined (see `revive`).
                report.quarantined[pid] = report.quarantined[pid] ?? "\(error)"
                pinnedScanFrom.store(scanFrom, ordering: .relaxed)
            }
        }
    }

    /// Notes every quarantine; a quarantined process without a cell (its
    /// snapshot unreadable, its spawn long dropped from the log) still holds
    /// its name: nothing fresh is started in its place.
    private func holdNames(_ report: RecoveryReport) throws {
        for (pid, reason) in report.quarantined { noteQuarantine(pid, reason: reason) }
        let unrevived = Set(report.quarantined.keys.filter { cell($0) == nil }.map(\.serial))
        if !unrevived.isEmpty { try reserveNames(of: unrevived) }
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
        let placeholder: B.State
        var rebuildFrom: RebuildStart<B.State> = process.state.map { .snapshot($0) } ?? .initial
        if let initial = try? behavior.initialState() {
            placeholder = initial
        } else if let snapshot = process.state {
            placeholder = try decodeSnapshot(B.self, snapshot)
            rebuildFrom = .state(placeholder)
        } else {
            placeholder = try behavior.initialState()
        }
        let cell = DurableCell(behavior: behavior, spec: process.spec, state: placeholder, pid: pid, scheduler: scheduler(for: pid), durable: self, name: process.name)
        enter(cell)
        return { [self] in
            do {
                if let reason = process.broken { throw DurableError.undecodable(reason) }
                return try finishRevival(cell, process, from: rebuildFrom, payload: payload)
            } catch {
                // Started quarantined: visible, named, its mail waiting; nothing replayed.
                cell.phase = .quarantined(process.broken ?? "\(error)")
                start(cell)
                throw error
            }
        }
    }

    private func decodeSnapshot<B: DurableBehavior>(_ type: B.Type, _ snapshot: [UInt8]) throws -> B.State {
        do {
            return try DurableDecoding.with(self) { try codec(B.State.self).decode(from: snapshot) }
        } catch {
            throw DurableError.undecodable("its snapshot does not decode as \(B.State.self): \(error)")
        }
    }

    private func finishRevival<B: DurableBehavior>(
        _ cell: DurableCell<B>, _ process: Recovered, from rebuildFrom: RebuildStart<B.State>, payload: MailLookup
    ) throws -> (replayed: Int, pending: Int) {
        let pid = cell.pid
        var log = ReplayLog(reservingCapacity: process.replay.count)
        for entry in process.replay {
            try payload(entry.seq) { acceptedAt, bytes in log.append(entry, acceptedAt: acceptedAt, payload: bytes) }
        }
        cell.state = try cell.rebuiltState(from: rebuildFrom, replaying: log)
        cell.sinceSnapshot = process.replay
        cell.handled = process.handled &+ UInt64(process.replay.count)
        cell.incarnation = process.incarnation &+ 1
        cell.restarts = process.restarts
        let pending = RecoveryScan.waiting(process)
        try DurableDecoding.with(self) {
            for seq in pending {
                try payload(seq) { acceptedAt, bytes in
                    let message: B.Message
                    do {
                        message = try cell.codec.decode(from: bytes)
                    } catch {
                        throw DurableError.undecodable("journal record \(seq) for \(pid) does not decode as \(B.Message.self): \(error)")
                    }
                    // Counted as mail from outside until handled (the record does not say
                    // where it came from): a flood's backlog re-queued at a start keeps
                    // the mailbox limit, and new mail waits for it to drain.
                    cell.restoreMail(CommittedMail(message, seq: seq, acceptedAt: acceptedAt, slot: nil, fromOutside: true))
                }
            }
        }
        start(cell, timers: process.timers.values.sorted { $0.id < $1.id })
        // Its effects under way run again, with their keys (or are listed, when inspecting).
        for effect in process.effects.values.sorted(by: { $0.id < $1.id }) { effects.resume(effect, pid: pid.serial, of: cell, core: self) }
        return (process.replay.count, pending.count)
    }
}
