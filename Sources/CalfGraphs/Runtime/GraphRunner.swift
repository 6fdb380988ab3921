import CalfLoop
import Foundation
import Glibc
import Synchronization

/// Runs graphs' commands for a node (`TaskRunEffect`): one loop thread of
/// its own for their OS processes, one run of a task at a time (a run
/// stopped or interrupted is gone, its whole process group, before the
/// task's next run starts). Give it to the node as an effect service:
/// `options.services[GraphRunner.self] = runner`.
public final class GraphRunner: Sendable {
    let loop: EventLoop
    private let slots: LoopOwned<[String: TaskSlot]>
    private let links = Mutex<[String: GraphLink]>([:])

    /// A runner with its loop thread.
    /// - Throws: `LoopError` if the loop cannot start.
    public init() throws(LoopError) {
        loop = try EventLoop(name: "calf-graph")
        slots = LoopOwned([:])
    }

    /// Links graph `graph` to its host: daemons' readiness goes to it (it
    /// sends it on as a journaled message), and outcomes for its workers.
    public func link(graph: String, _ link: GraphLink) {
        links.withLock { $0[graph] = link }
    }

    /// Sends `effect`'s outcome to its worker through its graph's host.
    /// - Returns: whether the worker took it (or had taken it: a duplicate).
    func deliver(_ effect: WorkerDeliveryEffect) async -> Bool {
        guard let link = links.withLock({ $0[effect.graph] }) else { return false }
        return await link.deliver(effect.worker, effect.outcome, effect.key)
    }

    /// Stops its loop (runs still under way are stopped with it: their groups get SIGKILL).
    public func shutdown() {
        loop.execute { [self] in
            for slot in slots.value.values { slot.current?.stop(.interrupted, note: "the node stopped while it ran") }
        }
        _ = try? loop.shutdown()
    }

    /// Sends `effect`'s signal to its daemon's run, if that run is the one running.
    /// - Returns: whether it was sent.
    func signal(_ effect: TaskSignalEffect) async -> Bool {
        let number = Self.signalNumbers[effect.signal] ?? SIGHUP
        return await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            loop.execute { [self] in
                let slot = slots.value[effect.graph + "/" + effect.task]
                guard let slot, slot.number == effect.run, let current = slot.current else { return continuation.resume(returning: false) }
                continuation.resume(returning: current.send(number))
            }
        }
    }

    /// The signals a daemon's `reload` may name.
    static let signalNumbers: [String: Int32] = [
        "SIGHUP": SIGHUP, "SIGUSR1": SIGUSR1, "SIGUSR2": SIGUSR2, "SIGINT": SIGINT, "SIGTERM": SIGTERM, "SIGQUIT": SIGQUIT, "SIGWINCH": SIGWINCH,
    ]

    /// Runs `effect` to its outcome (see `TaskRunEffect` for the at-most-once marker).
    /// Cancelled (the node stopping, or the graph stopping the run), the
    /// run's group is stopped and the outcome says `interrupted`.
    func run(_ effect: TaskRunEffect) async -> RunOutcome {
        var outcome = await runCommand(effect)
        if outcome.status == .succeeded, !effect.outputs.isEmpty, outcome.outputsDigest == nil {
            // Off the runner's loop: a big output takes a while to read.
            outcome.outputsDigest = OutputsDigest.of(effect.outputs)
            RunMarker(logPath: effect.logPath).record(outcome)
        }
        return outcome
    }

    /// The command's run on the loop, cancelled with the effect's task.
    private func runCommand(_ effect: TaskRunEffect) async -> RunOutcome {
        let token = RunToken()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<RunOutcome, Never>) in
                loop.execute { [self] in enqueue(effect, token) { continuation.resume(returning: $0) } }
            }
        } onCancel: {
            loop.execute {
                token.cancelled = true
                token.run?.stop(.interrupted, note: "the node stopped while it ran")
            }
        }
    }

    // MARK: On the loop

    private func enqueue(_ effect: TaskRunEffect, _ token: RunToken, _ done: @escaping (RunOutcome) -> Void) {
        let key = effect.graph + "/" + effect.task
        let slot = slots.value[key] ?? TaskSlot()
        slots.value[key] = slot
        let start = { [self] in begin(effect, token, slot) { outcome in
            slot.current = nil
            slot.check?.close()
            slot.check = nil
            done(outcome)
            if !slot.waiting.isEmpty { slot.waiting.removeFirst()() }
        } }
        if slot.current == nil, slot.waiting.isEmpty { start() } else { slot.waiting.append(start) }
    }

    private func begin(_ effect: TaskRunEffect, _ token: RunToken, _ slot: TaskSlot, _ done: @escaping (RunOutcome) -> Void) {
        let marker = RunMarker(logPath: effect.logPath)
        if let recorded = marker.outcome() {
            done(recorded)
            return
        }
        if let left = marker.started() {
            // A run of this effect began before the node stopped: never a second time.
            stopLeftover(group: left.group, killAfter: effect.killAfter) {
                let tail = RunMarker.lastLines(of: effect.logPath, CommandRun.tailLines)
                let outcome = RunOutcome(status: .interrupted, startedAt: left.startedAt, endedAt: max(left.startedAt, marker.lastWrite() ?? left.startedAt), tail: tail,
                                         note: "the node stopped while it ran" + (left.group > 0 ? "; what was left of process group \(left.group) was stopped at the next start" : ""))
                marker.record(outcome)
                done(outcome)
            }
            return
        }
        // Runs of the task a killed node left (whose effects may come later, or never) go first.
        stopLeftovers(of: effect) { [self] in launch(effect, token, slot, marker, done) }
    }

    private func launch(_ effect: TaskRunEffect, _ token: RunToken, _ slot: TaskSlot, _ marker: RunMarker, _ done: @escaping (RunOutcome) -> Void) {
        let now = WallClock.milliseconds()
        guard !token.cancelled else {
            done(RunOutcome(status: .interrupted, startedAt: now, endedAt: now, note: "stopped before it ran"))
            return
        }
        let command: RunCommand
        do {
            command = try prepare(effect, marker)
        } catch {
            let outcome = RunOutcome(status: .couldNotStart, startedAt: now, endedAt: now, note: "\(error)")
            marker.record(outcome)
            done(outcome)
            return
        }
        let run = CommandRun(loop: loop, line: command, logPath: effect.logPath) { outcome in
            marker.record(outcome)
            done(outcome)
        }
        if run.group > 0 {
            marker.begin(group: run.group, startedAt: now)
            token.run = run
            slot.current = run
            slot.number = effect.run
            if let ready = effect.ready, !run.hasEnded {
                let report = links.withLock { $0[effect.graph]?.ready }
                slot.check = ReadinessCheck(loop: loop, spec: ready, run: run, command: command,
                                            onReady: { report?(effect.task, effect.run) },
                                            onTimeout: { [weak run] why in run?.stop(.failed, note: why) })
            }
        }
    }

    /// Stops the process group of each earlier run of `effect`'s task that
    /// began and never recorded an outcome (a killed node's), records it
    /// `interrupted`, then `done`.
    private func stopLeftovers(of effect: TaskRunEffect, _ done: @escaping () -> Void) {
        let directory = (effect.logPath as NSString).deletingLastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var left: [(RunMarker, group: Int32, startedAt: Int64)] = []
        for name in names where name.hasSuffix(".log" + RunMarker.startedSuffix) {
            guard let number = Int(name.dropLast((".log" + RunMarker.startedSuffix).count)), number < effect.run else { continue }
            let marker = RunMarker(logPath: directory + "/\(number).log")
            guard marker.outcome() == nil, let began = marker.started() else { continue }
            left.append((marker, began.group, began.startedAt))
        }
        func next() {
            guard let (marker, group, startedAt) = left.popLast() else { return done() }
            stopLeftover(group: group, killAfter: effect.killAfter) {
                marker.record(RunOutcome(status: .interrupted, startedAt: startedAt, endedAt: max(startedAt, marker.lastWrite() ?? startedAt),
                                         tail: RunMarker.lastLines(of: marker.logPath, CommandRun.tailLines),
                                         note: "the node stopped while it ran; what was left of process group \(group) was stopped at the next start"))
                next()
            }
        }
        next()
    }

    /// The log's directory made, old logs removed, the marker written, the argv put together.
    private func prepare(_ effect: TaskRunEffect, _ marker: RunMarker) throws -> RunCommand {
        let directory = (effect.logPath as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if effect.run > effect.keepLogs {
            let old = directory + "/\(effect.run - effect.keepLogs).log"
            for path in [old, old + RunMarker.startedSuffix, old + RunMarker.outcomeSuffix] { unlink(path) }
        }
        marker.begin(group: 0, startedAt: WallClock.milliseconds())
        let arguments: [String]
        switch effect.operation {
        case .command(let argv):
            arguments = argv
        case .shell(let text):
            arguments = effect.shell + [ShellText.execPrefixed(text)]
        case .script(let text, let interpreter):
            var hash = StableHash()
            hash.add(text)
            try FileManager.default.createDirectory(atPath: effect.scripts, withIntermediateDirectories: true)
            let file = effect.scripts + "/" + hash.hex
            if !FileManager.default.fileExists(atPath: file) { try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic) }
            arguments = interpreter + [file]
        }
        var environment = ProcessInfo.processInfo.environment
        for (name, value) in effect.environment { environment[name] = value }
        return RunCommand(arguments: arguments, workingDirectory: effect.workingDirectory,
                          environment: environment.map { "\($0.key)=\($0.value)" }.sorted(),
                          stdinPipe: effect.stdinPipe, timeout: effect.timeout, killAfter: effect.killAfter)
    }

    /// Stops what is left of process group `group` (SIGTERM, SIGKILL after
    /// `killAfter`), then `done` once it is empty. Members are signalled
    /// through the group, so they go even when its leader died before them.
    private func stopLeftover(group: Int32, killAfter: Int, _ done: @escaping () -> Void) {
        guard group > 0, Glibc.kill(-group, 0) == 0 else { done(); return }
        _ = Glibc.kill(-group, SIGTERM)
        let began = WallClock.milliseconds()
        func check() {
            guard Glibc.kill(-group, 0) == 0 else { done(); return }
            if WallClock.milliseconds() - began >= Int64(killAfter) { _ = Glibc.kill(-group, SIGKILL) }
            loop.execute(after: 20, check)
        }
        check()
    }
}

/// Runs waiting for one task's previous run to end, and that run.
///
/// Thread ownership: the runner's loop thread only.
final class TaskSlot: @unchecked Sendable {
    var current: CommandRun?
    /// The number of the run `current` is.
    var number = 0
    /// A daemon run's readiness check, until it passes or the run ends.
    var check: ReadinessCheck?
    var waiting: [() -> Void] = []
}

/// A run's link to its cancellation (the effect's task cancelled).
///
/// Thread ownership: the runner's loop thread only (set in `begin`, read by the cancel job).
final class RunToken: @unchecked Sendable {
    var cancelled = false
    var run: CommandRun?
}

/// A value only its loop's thread touches.
///
/// Thread ownership: the runner's loop thread only; made before that loop runs anything.
final class LoopOwned<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

extension EventLoop {
    /// Runs `body` on this loop after `milliseconds` (a one-shot timer; its thread).
    func execute(after milliseconds: Int, _ body: @escaping () -> Void) {
        guard let timer = try? LoopTimer(loop: self) else { return }
        do throws(LoopError) {
            try timer.start(milliseconds: UInt64(max(0, milliseconds))) {
                timer.close()
                body()
            }
        } catch {
            timer.close()
        }
    }
}

/// What a graph's host does for the runner: takes daemons' readiness, delivers workers' outcomes.
public struct GraphLink: Sendable {
    /// Daemon `task`'s run `run` passed its readiness check.
    public var ready: @Sendable (_ task: String, _ run: Int) -> Void
    /// Sends `outcome` to worker task `worker` with idempotency key `key`; whether it was taken.
    public var deliver: @Sendable (_ worker: String, _ outcome: TaskOutcome, _ key: String) async -> Bool

    /// A link.
    public init(ready: @escaping @Sendable (_ task: String, _ run: Int) -> Void,
                deliver: @escaping @Sendable (_ worker: String, _ outcome: TaskOutcome, _ key: String) async -> Bool) {
        self.ready = ready
        self.deliver = deliver
    }
}
