import CalfStore
import CalfControl
import CalfRuntime

/// A durable process that left RAM (passivation), as the table keeps it:
/// what `ps` shows of it. Everything else is in its snapshot.
package struct PassiveEntry: Sendable {
    /// Its behavior's name.
    package var behavior: String
    /// Its registered name, if any.
    package var name: String?
    /// Messages it had handled.
    package var handled: UInt64
    /// Restarts in place over its life.
    package var restarts: UInt64
    /// The cell that holds its links while it is out: the cell it left, when
    /// processes were linked to it (its supervisor), or the stand-in a link
    /// was made with since (a supervisor at a node start). Theirs to signal
    /// until it is back, when its links go to the new cell.
    package var linked: ProcessCell?
}

// Passivation, in four steps, each on the process's home scheduler (the one
// `DurableCore.scheduler(for:)` names, where it is brought back), so that
// mail forwarded by a cell it left behind reaches the new cell on the same
// thread, in the order it was released, before a checkpoint round looks:
//
// 1. A sweep (`DurableScheduling.sweep`) finds it idle for its
//    `passivateAfter`: nothing handled since, no mail, nothing in flight from
//    outside, no links, monitors, trace, suspension or effects under way.
//    One that moved off its home scheduler is moved back first.
// 2. Its snapshot goes into the scheduler's commit batch (`beginPassivation`).
// 3. Once that commits, if it is still idle, it is retired (`retire`): out of
//    the scheduler's and the durable tables, its timers cancelled (the
//    earliest due is armed to bring it back), a `PassiveEntry` in its place,
//    its name held by a small stand-in. Its cell lives on only while
//    someone's address keeps it, and forwards what reaches it.
// 4. Mail committed for it (through a kept address, a stand-in, a name) is
//    released to such a cell, which brings it back from its snapshot
//    (`DurableCore.activate`) and hands the mail over (`forwardToLive`); so
//    do a due timer, a callback and the operator's commands.
//
// A crash at any point loses nothing: a passivated process is a snapshot
// like any other, and the journal holds whatever came after it.

/// A cell the sweep may passivate (found by a cast where the behavior is not known).
package protocol PassivationSweeping: AnyObject {
    /// Its `passivateAfter` in nanoseconds (0: never).
    var passivateAfterNanoseconds: UInt64 { get }
    /// Passivates it now, idle or not, if nothing keeps it in RAM (its
    /// thread): `done` learns how that went.
    func passivateNow(_ done: @escaping @Sendable (PassivationAttempt) -> Void)
}

/// How one attempt to passivate a process went (`PassivationSweeping.passivateNow`).
package enum PassivationAttempt: Sendable {
    /// It left RAM, or stays for a lasting reason.
    case finished(PassivationOutcome)
    /// Something passing keeps it at the moment (mail waiting or on its way, a
    /// move back to its home scheduler): ask again in a moment.
    case busy(String)
}

/// How a request to passivate a durable process went (`Node.passivate`).
public enum PassivationOutcome: Sendable, Equatable, CustomStringConvertible {
    /// Its snapshot committed; it left RAM.
    case passivated
    /// It had left RAM already.
    case alreadyPassivated
    /// It stays in RAM, for this reason (it is monitored, has mail waiting, …).
    case stays(String)

    public var description: String {
        switch self {
        case .passivated: "passivated"
        case .alreadyPassivated: "passivated already"
        case .stays(let reason): "it stays in RAM: \(reason)"
        }
    }
}

extension DurableCell: PassivationSweeping {}

extension DurableCell {
    /// Step 1 (its scheduler's thread): passivates it if idle long enough.
    package func passivateIfIdle(now: UInt64) {
        guard passivateAfterNanoseconds > 0, phase == .running, status == .alive else { return }
        if handled != idleHandled || mailboxCount > 0 || scheduled {
            idleHandled = handled
            idleSince = now
            return
        }
        guard now &- idleSince >= passivateAfterNanoseconds, passivationObstacle == nil else { return }
        if movedHome() { beginPassivation(nil) }
    }

    package func passivateNow(_ done: @escaping @Sendable (PassivationAttempt) -> Void) {
        guard !durable.options.inspecting else { return done(.finished(.stays("the node only inspects its data"))) }
        guard phase == .running, status == .alive else { return done(.busy("it is restarting")) }
        if let obstacle = passivationObstacle {
            return done(obstacle.passing ? .busy(obstacle.reason) : .finished(.stays(obstacle.reason)))
        }
        guard movedHome() else {
            let home = durable.scheduler(for: pid).index
            return done(canMove && !pinned ? .busy("it is moving to its home scheduler, \(home)")
                                           : .finished(.stays("it is pinned away from its home scheduler, \(home)")))
        }
        beginPassivation(done)
    }

    /// Whether it is on its home scheduler, where a passivated process is
    /// brought back and so retired (see above); if not, it is moved there
    /// when it can be (for a later sweep or request).
    private func movedHome() -> Bool {
        let home = durable.scheduler(for: pid)
        guard scheduler !== home else { return true }
        if canMove, arrival == nil, !pinned {
            scheduler.move(self, to: home)
            scheduler.flushDepartures()
        }
        return false
    }

    /// What keeps it in RAM, or nil: mail waiting or on its way from
    /// outside, something awaited, someone watching it.
    private var passivationObstacle: (reason: String, passing: Bool)? {
        if passivating { return ("it is leaving RAM already", true) }
        if retry != nil { return ("it waits to be restarted", true) }
        if !mailbox.isEmpty { return ("it has mail waiting", true) }
        if arrival != nil { return ("it is moving between schedulers", true) }
        if timerReleasesAwaited != 0 { return ("a timer it set is being committed", true) }
        if outsideBacklog.load(ordering: .relaxed) != 0 { return ("mail from outside is on its way to it", true) }
        if suspended { return ("it is suspended", false) }
        if trace.map({ !$0.hasEnded }) == true { return ("it is traced", false) }
        if let relations {
            // Links stay (with the cell it leaves, see `retire`); a monitor keeps it in RAM (its down signal is not carried).
            if !relations.monitoredBy.isEmpty { return ("it is monitored", false) }
            if !relations.monitoring.isEmpty { return ("it monitors another process", false) }
            if relations.effects != nil { return ("it awaits effects", false) }
        }
        return durable.effects.pending(of: pid.serial).isEmpty ? nil : ("it awaits effects", false)
    }

    /// Step 2: its snapshot into the scheduler's batch, the retirement
    /// after its commit; `done` (if any) learns the outcome.
    private func beginPassivation(_ done: (@Sendable (PassivationAttempt) -> Void)?) {
        guard let entry = snapshotEntry(passivated: true) else {
            done?(.finished(.stays("its state does not encode (it is quarantined)")))
            return
        }
        passivating = true
        let batch = outcomesBatch
        batch.entries.append(entry)
        let mark = handled
        let here = scheduler
        batch.entries.append(.releaseOn(here) { [self] in
            passivating = false
            // Still idle since the snapshot, and still here (it cannot move while passivating).
            guard scheduler === here, phase == .running, status == .alive, handled == mark, passivationObstacle == nil else {
                done?(.busy("it took mail or was watched while its snapshot was written"))
                return
            }
            retire()
            done?(.finished(.passivated))
        })
        // An outcome, not a release: a failed commit leaves it in RAM, running.
        batch.entries.append(.outcome { [self] failure in
            guard let failure else { return }
            here.loop.execute { [self] in passivating = false }
            done?(.finished(.stays("its snapshot did not commit: \(failure)")))
        })
    }

    /// Step 3: out of RAM, its snapshot committed.
    private func retire() {
        let earliestDue = timers.values.map { $0.timer.due }.min()
        for (_, entry) in timers { entry.ref.map { _ = scheduler.cancelTimer($0) } }
        timers = [:]
        let here = scheduler
        here.processes[pid] = nil
        here.durableScheduling.remove(self)
        let standIn = name.map { DurableCellBase<B.Message>.standIn(for: pid, name: $0, durable: durable) }
        let linked = relations?.links.isEmpty == false
        durable.passivated(self, entry: PassiveEntry(behavior: B.behaviorName, name: name, handled: handled, restarts: restarts, linked: linked ? self : nil), standIn: standIn)
        if let name, let standIn { here.node.reregister(name, standIn) }
        phase = .passivated
        status = .dead
        sinceSnapshot = []
        if mailbox.storage != nil { mailbox.destroy() }
        if let earliestDue { durable.armActivation(of: pid, at: earliestDue, on: here) }
    }
}

extension DurableCellBase {
    /// A stand-in for passivated process `pid`: a cell of its message type
    /// on its home scheduler that journals mail for it and forwards what
    /// commits to the process brought back (for its name, and for an
    /// address decoded while it is passivated).
    package static func standIn(for pid: Pid, name: String?, durable: DurableCore) -> DurableCellBase<Message> {
        let cell = DurableCellBase<Message>(pid: pid, scheduler: durable.scheduler(for: pid), durable: durable, name: name)
        cell.phase = .passivated
        cell.status = .dead
        // Unspecialized (a stand-in carries little mail: what it forwards once).
        cell.intake = JournalingTarget<Message>(take: { cell, envelope, current in
            current?.flushOutgoing()
            return unsafeDowncast(cell, to: DurableCellBase<Message>.self).journalIngress(envelope)
        }, journalOutput: { cell, message, acceptedAt, bytes in
            unsafeDowncast(cell, to: DurableCellBase<Message>.self).journalOutput(message, acceptedAt: acceptedAt, into: &bytes)
        })
        return cell
    }

    /// The process brought back, for signals and links meant for this cell
    /// while it is passivated (see `liveSuccessor`).
    package final func broughtBack() -> ProcessCell? {
        guard phase == .passivated, durable.scheduler(for: pid) === scheduler else { return nil }
        return durable.activate(pid)
    }

    /// Step 4 (its scheduler's thread): mail committed for it while it is
    /// passivated goes to the process brought back.
    package final func forwardToLive(_ mail: CommittedMail<Message>) {
        if mail.fromOutside { outsideMailTaken() }
        let core = durable
        let pid = self.pid
        let home = core.scheduler(for: pid)
        if home === scheduler {
            core.deliverToLive(mail, of: pid)
        } else {
            // invariant: only a cell on its home scheduler is retired, and stand-ins are made there; kept for safety.
            home.loop.execute { core.deliverToLive(mail, of: pid) }
        }
    }
}

extension DurableCore {
    /// Enters `cell`'s retirement in the table (step 3): its entry, the
    /// stand-in that holds its name.
    package func passivated<M: Codable & Sendable>(_ cell: DurableCellBase<M>, entry: PassiveEntry, standIn: DurableCellBase<M>?) {
        table.withLock { table in
            table.cells[cell.pid] = nil
            table.passive[cell.pid] = entry
            if let name = entry.name, let standIn { table.named[name] = (standIn, ObjectIdentifier(M.self)) }
        }
    }

    /// Enters recovered process `pid`, passivated with nothing for it in
    /// the log since, as passivated (a node start): no cell, a stand-in
    /// for its name, its first due timer armed to bring it back.
    package func enterPassive<B: DurableBehavior>(_ type: B.Type, pid: Pid, _ process: Recovered) {
        let entry = PassiveEntry(behavior: process.behavior, name: process.name, handled: process.handled, restarts: process.restarts, linked: nil)
        table.withLock { $0.passive[pid] = entry }
        holdPassive(type, pid: pid, name: process.name, earliestDue: process.timers.values.map(\.due).min())
    }

    /// What a passivated process needs at a node start besides its entry:
    /// a stand-in holding its name, its first due timer armed to bring it back.
    package func holdPassive<B: DurableBehavior>(_ type: B.Type, pid: Pid, name: String?, earliestDue: UInt64?) {
        let home = scheduler(for: pid)
        if let name {
            let standIn = DurableCellBase<B.Message>.standIn(for: pid, name: name, durable: self)
            table.withLock { table in
                table.names[name] = pid
                table.named[name] = (standIn, ObjectIdentifier(B.Message.self))
            }
            home.node.hold(name, standIn)
        }
        if let due = earliestDue { home.loop.execute { [self] in armActivation(of: pid, at: due, on: home) } }
    }

    /// Arms a timer on `home` (its thread) that brings passivated process
    /// `pid` back when its first timer is due (`due`, wall time in ns);
    /// its timers are then armed as its snapshot has them.
    package func armActivation(of pid: Pid, at due: UInt64, on home: Scheduler) {
        let now = home.node.wallNow.nanosecondsSinceEpoch
        _ = home.addTimer(after: .clampedNanoseconds(due > now ? due - now : 0)) { [self] _ in _ = activate(pid) }
    }

    /// The cell that holds passivated process `name`'s name (its stand-in),
    /// and its behavior's name; nil if no passivated process has that name.
    package func passiveHolder(of name: String) -> (cell: ProcessCell, behavior: String)? {
        table.withLock { table in
            guard let pid = table.names[name], let entry = table.passive[pid], let held = table.named[name] else { return nil }
            return (held.cell, entry.behavior)
        }
    }

    /// The cell that keeps links made with passivated process `pid` until
    /// it comes back: the cell it left, if processes were linked to it then,
    /// else `standIn` (a node start's); nil if it is not passivated. Its
    /// home scheduler's thread (where activation runs: it cannot come back
    /// in between).
    package func linkHolder(of pid: Pid, standIn: ProcessCell) -> ProcessCell? {
        table.withLock { table in
            guard var entry = table.passive[pid] else { return nil }
            if let held = entry.linked { return held }
            entry.linked = standIn
            table.passive[pid] = entry
            return standIn
        }
    }

    /// Whether `pid` is passivated.
    package func isPassive(_ pid: Pid) -> Bool { table.withLock { $0.passive[pid] != nil } }

    /// Hands `mail` to process `pid`, brought back if it is passivated (its home scheduler's thread).
    package func deliverToLive<M: Codable & Sendable>(_ mail: CommittedMail<M>, of pid: Pid) {
        guard let live = activate(pid) as? DurableCellBase<M> else {
            mail.slot?.complete(.failure(.noProcess(pid.description)))
            scheduler(for: pid).node.countDeadLetter()
            return
        }
        if mail.fromOutside { live.outsideBacklog.add(1, ordering: .relaxed) }
        if live.scheduler === scheduler(for: pid) {
            live.acceptCommitted(mail)
        } else {
            live.scheduler.pushRemote(RemoteNode.make(cell: live, envelope: .committed(mail), forwarded: true))
        }
    }

    /// The live cell of `pid`, brought back from its snapshot if it is
    /// passivated (on its home scheduler's thread); nil for a process that
    /// is gone, or one that cannot come back (quarantined, with why).
    @discardableResult
    package func activate(_ pid: Pid) -> ProcessCell? {
        let (cell, passive) = table.withLock { ($0.cells[pid], $0.passive[pid]) }
        if let cell { return cell }
        guard passive != nil else { return nil }
        do {
            guard let (_, body) = try loadCheckpoint(pid) else { throw DurableError.undecodable("the snapshot it was passivated with is gone") }
            guard let type = registry[body.behavior] else {
                throw DurableError.unknownBehavior("no behavior named '\(body.behavior)' is registered with this node")
            }
            let cell = try activated(type, pid: pid, body)
            if let left = passive?.linked { takeLinks(of: left, to: cell) }
            return cell
        } catch {
            reportProblem("durable process \(pid) could not come back from passivation: \(error)", level: .error, ["pid": "\(pid)"])
            table.withLock { _ = $0.passive.removeValue(forKey: pid) }
            noteQuarantine(pid, reason: "it could not come back from passivation: \(error)")
            return nil
        }
    }

    private func activated<B: DurableBehavior>(_ type: B.Type, pid: Pid, _ body: CheckpointBody) throws -> ProcessCell {
        let home = scheduler(for: pid).durableScheduling
        let (behavior, state) = try DurableDecoding.with(self) { () throws -> (B, B.State) in
            let behavior: B
            if _isPOD(B.self), let last = home.lastSpec, last.type == ObjectIdentifier(B.self), last.bytes == body.spec,
               let same = last.behavior as? B {
                behavior = same
            } else {
                do {
                    behavior = try BinaryDecoder().decode(B.self, from: body.spec)
                } catch {
                    throw DurableError.undecodable("its behavior \(B.behaviorName) does not decode: \(error)")
                }
                if _isPOD(B.self) { home.lastSpec = (ObjectIdentifier(B.self), body.spec, behavior) }
            }
            do {
                return (behavior, try codec(B.State.self).decode(from: body.state))
            } catch {
                throw DurableError.undecodable("its snapshot does not decode as \(B.State.self): \(error)")
            }
        }
        let cell = DurableCell(behavior: behavior, spec: body.spec, state: state, pid: pid, scheduler: scheduler(for: pid), durable: self, name: body.name)
        cell.handled = body.handled
        cell.incarnation = body.incarnation &+ 1
        cell.restarts = body.restarts
        cell.dirty = false
        try DurableDecoding.with(self) {
            for seq in body.pending {
                // A passivated process had none waiting; a snapshot of another kind may.
                guard let record = try journal.record(at: seq), case .accepted(let accepted) = record else {
                    throw DurableError.undecodable("journal record \(seq) that \(pid) waits for is missing")
                }
                let message = try accepted.payload.withUnsafeBytes { try cell.codec.decode(from: $0) }
                cell.restoreMail(CommittedMail(message, seq: seq, acceptedAt: accepted.acceptedAt, slot: nil, fromOutside: true))
            }
        }
        // Out of the passive table and into the live one at once: a reader on another thread sees one or the other.
        enter(cell) { $0.passive[pid] = nil }
        putToWork(cell, timers: body.timers)
        for effect in body.effects.sorted(by: { $0.id < $1.id }) { effects.resume(effect, pid: pid.serial, of: cell, core: self) }
        return cell
    }

    /// The processes linked to the cell a passivated process left are
    /// linked to the cell it is back in (its home scheduler's thread).
    private func takeLinks(of left: ProcessCell, to cell: ProcessCell) {
        guard let links = left.relations?.links, !links.isEmpty else { return }
        left.relations?.links = []
        cell.relationsForUpdate.links.append(contentsOf: links)
        for peer in links {
            cell.scheduler.onOwner(of: peer) { _ in
                guard let index = peer.relations?.links.firstIndex(where: { $0 === left }) else { return }
                peer.relations?.links[index] = cell
            }
        }
    }

    /// The live cell of `pid` from any thread, brought back on its home
    /// scheduler if it is passivated.
    package func activeCell(_ pid: Pid) async -> ProcessCell? {
        // Both under one lock: read apart, an activation between them would look like no process.
        let (live, passive) = table.withLock { ($0.cells[pid], $0.passive[pid] != nil) }
        if let live { return live }
        guard passive else { return nil }
        let home = scheduler(for: pid)
        let found: UncheckedBox<ProcessCell?> = await withCheckedContinuation { continuation in
            home.loop.execute { [self] in continuation.resume(returning: UncheckedBox(activate(pid))) }
        }
        return found.value
    }

    /// Runs `body` on the owner's thread of durable process `pid`'s live
    /// cell, brought back in the same job if it is passivated (so that it
    /// cannot leave again in between); nil if there is no such process.
    package func withLiveCell<T: Sendable>(_ pid: Pid, _ body: @escaping @Sendable (ProcessCell) -> T) async -> T? {
        for _ in 0..<1000 {
            let (live, passive) = table.withLock { ($0.cells[pid], $0.passive[pid] != nil) }
            let home = scheduler(for: pid)
            let outcome: LiveOutcome<T>
            if let live {
                outcome = await withCheckedContinuation { continuation in
                    Scheduler.post({ _ in
                        // Passivated since the table was read: try again.
                        continuation.resume(returning: live.status == .alive ? .done(body(live)) : .again)
                    }, toOwnerOf: live)
                }
            } else if passive {
                outcome = await withCheckedContinuation { continuation in
                    home.loop.execute { [self] in
                        guard let cell = activate(pid) else { return continuation.resume(returning: .gone) }
                        continuation.resume(returning: cell.scheduler === home && cell.status == .alive ? .done(body(cell)) : .again)
                    }
                }
            } else {
                return nil
            }
            switch outcome {
            case .done(let value): return value
            case .gone: return nil
            case .again: await Task.yield()
            }
        }
        return nil
    }

    /// The live cell of the durable process `target` names (a registered
    /// name or a printed pid), brought back if it is passivated.
    package func activeCell(_ target: String) async -> ProcessCell? {
        guard let pid = durablePid(target) else { return nil }
        return await activeCell(pid)
    }

    /// The durable process (live or passivated) `target` names: a
    /// registered name or a printed pid; nil if it names none.
    package func durablePid(_ target: String) -> Pid? {
        let parsed = Pid(parsing: target)
        return table.withLock { table in
            if let parsed { return table.cells[parsed] != nil || table.passive[parsed] != nil ? parsed : nil }
            return table.names[target]
        }
    }

    /// The passivated processes, as `ps` shows them (by pid).
    package func passiveReports() -> [ProcessReport] {
        let entries = table.withLock { $0.passive }
        return entries.sorted { $0.key < $1.key }.map { pid, entry in
            ProcessReport(
                pid: pid.description, name: entry.name, behavior: entry.behavior, scheduler: scheduler(for: pid).index,
                status: "passivated", mailbox: 0, handled: entry.handled, restarts: entry.restarts, memory: 0,
                durable: true, trapsExits: false, links: [], monitoredBy: [], quarantine: nil)
        }
    }
}

extension DurableCore {
    /// Passivates durable process `pid` now, idle or not, unless something
    /// keeps it in RAM (`PassivationOutcome.stays` says what); nil if
    /// there is no such process. What passes (mail waiting or on its way,
    /// a timer being committed) is waited out, for up to `patience`.
    package func passivate(_ pid: Pid, patience: Duration = .seconds(2)) async -> PassivationOutcome? {
        let deadline = ContinuousClock.now + patience
        while true {
            if isPassive(pid) { return .alreadyPassivated }
            let (attempts, sink) = AsyncStream.makeStream(of: PassivationAttempt.self, bufferingPolicy: .bufferingNewest(1))
            let reached: Void? = await withLiveCell(pid) { cell in
                guard let cell = cell as? any PassivationSweeping else {
                    sink.yield(.finished(.stays("its behavior cannot leave RAM")))
                    return
                }
                cell.passivateNow { sink.yield($0) }
            }
            guard reached != nil else { return nil }
            var busy = "it did not answer"
            for await attempt in attempts {
                switch attempt {
                case .finished(let outcome): return outcome
                case .busy(let reason): busy = reason
                }
                break
            }
            guard ContinuousClock.now < deadline else { return .stays("it stays busy: \(busy)") }
            try? await Task.sleep(for: .milliseconds(2))
        }
    }
}

/// How a job on a durable process's thread went (`DurableCore.withLiveCell`).
private enum LiveOutcome<T: Sendable>: Sendable {
    case done(T)
    /// It left RAM, or moved, meanwhile.
    case again
    /// It is gone, or could not come back.
    case gone
}
