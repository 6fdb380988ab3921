import Calf
import CalfFlows
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Flows of the benchmark that finished, outside replay.
let flowsFinished = Atomic<Int>(0)

/// Waits for a signal, then takes `steps` sleeps of zero (no timer: each
/// wake-up journaled with its turn, taken in the next).
struct StepperFlow: Flow {
    static let version = 1
    func run(_ steps: Int, flow: FlowContext) async throws -> Int {
        _ = try await flow.receive("go", as: Int.self)
        for _ in 0..<steps { try await flow.sleep(for: .zero) }
        if !flow.isReplaying { flowsFinished.wrappingAdd(1, ordering: .relaxed) }
        return steps
    }
}

/// `StepperFlow` with 1 ms sleeps: each step a durable timer.
struct TimerStepperFlow: Flow {
    static let version = 1
    func run(_ steps: Int, flow: FlowContext) async throws -> Int {
        _ = try await flow.receive("go", as: Int.self)
        for _ in 0..<steps { try await flow.sleep(for: .milliseconds(1)) }
        if !flow.isReplaying { flowsFinished.wrappingAdd(1, ordering: .relaxed) }
        return steps
    }
}

/// Takes `steps` no-op steps, then waits for a signal.
struct LongFlow: Flow {
    static let version = 1
    func run(_ steps: Int, flow: FlowContext) async throws -> Int {
        for _ in 0..<steps { try await flow.sleep(for: .zero) }
        _ = try await flow.receive("go", as: Int.self)
        return steps
    }
}

/// When each `StampEffect` first ran, by its number (seconds on the monotonic clock).
let stamps = Mutex<[Int: Double]>([:])

/// An effect that notes when it ran.
struct StampEffect: DurableEffect {
    var n: Int
    var retryPolicy: RetryPolicy { .never }
    func run(_ attempt: EffectAttempt) async throws -> Int {
        let at = now()
        stamps.withLock { if $0[n] == nil { $0[n] = at } }
        return n
    }
}

/// Its first step is a `StampEffect`: how soon after its start a flow's first step runs.
struct FirstStepFlow: Flow {
    static let version = 1
    static var effects: [any DurableEffect.Type] { [StampEffect.self] }
    func run(_ n: Int, flow: FlowContext) async throws -> Int {
        try await flow.perform(StampEffect(n: n))
    }
}

/// Hands the pages the allocator keeps free back to the system, so that
/// RSS is what is in use: mimalloc's `mi_collect(true)` when it is the
/// allocator (the calf binary links it), else glibc's `malloc_trim(0)`.
/// Both are found by name: neither is in a module this one imports.
private func trimMalloc() {
    #if canImport(Glibc)
    let process = dlopen(nil, RTLD_NOW)
    if let collect = dlsym(process, "mi_collect") {
        unsafeBitCast(collect, to: (@convention(c) (Bool) -> Void).self)(true)
        return
    }
    guard let symbol = dlsym(process, "malloc_trim") else { return }
    _ = unsafeBitCast(symbol, to: (@convention(c) (Int) -> Int32).self)(0)
    #endif
}

/// Signals every flow of `handles` to take its `steps` steps; the steps
/// (and the signals) per second until all have finished.
private func stepRate<F: Flow>(of handles: [FlowHandle<F>], steps: Int, on node: Node) async throws -> Double {
    flowsFinished.store(0, ordering: .relaxed)
    let start = now()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for slice in 0..<8 {
            group.addTask {
                for index in stride(from: slice, to: handles.count, by: 8) { try await node.signal(handles[index], "go", 1) }
            }
        }
        try await group.waitForAll()
    }
    while flowsFinished.load(ordering: .relaxed) < handles.count { try await Task.sleep(for: .milliseconds(1)) }
    return Double(handles.count * (steps + 1)) / (now() - start)
}

/// `calf bench flows`: no-op steps per second with `flows` concurrent
/// flows, the memory of a waiting flow, the rebuild of a 1,000-step flow
/// over its log after a restart, and the latency from a flow's start to its
/// first step running.
public enum FlowBench {
    public static func run(flows: Int, steps: Int, longSteps: Int = 1_000, starts: Int = 1_000, report: Report) async throws {
        let dir = try DurableBench.directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = DurableOptions(path: dir, durability: .process, behaviors: [EffectChain.self], checkpointInterval: .seconds(5), mapSize: 1 << 30)
        options.addFlow(StepperFlow.self)
        options.addFlow(TimerStepperFlow.self)
        options.addFlow(LongFlow.self)
        options.addFlow(FirstStepFlow.self)
        let node = try Node(durable: options)
        // Waiting flows: what each costs, waiting on a signal, in a node
        // that already hosts as many: a first batch warms the node's tables,
        // the allocator's pages and the journal's map, and the second batch's
        // RSS growth is what a node of many flows pays per flow. (An evicted
        // flow's task is freed: RSS is read after the allocator is told to
        // hand free pages back; the mark before that is printed beside.)
        let warm = try await startAll(flows) { _ in try await node.startFlow(StepperFlow(), steps) }
        while try await node.log(of: warm[warm.count - 1]).status != .waiting { try await Task.sleep(for: .milliseconds(5)) }
        _ = await node.settled()
        trimMalloc()
        let before = MemoryUse.now()
        let handles = try await startAll(flows) { _ in try await node.startFlow(StepperFlow(), steps) }
        while try await node.log(of: handles[handles.count - 1]).status != .waiting { try await Task.sleep(for: .milliseconds(5)) }
        _ = await node.settled()
        let highWater = MemoryUse.now().anonymous - before.anonymous
        trimMalloc()
        let flowUse = MemoryUse.now()
        // The same for plain durable processes, idle: what a flow costs beyond its process.
        for _ in 0..<flows { _ = try await node.spawnDurable(EffectChain()) }
        _ = await node.settled()
        trimMalloc()
        let plainBefore = MemoryUse.now()
        for _ in 0..<flows { _ = try await node.spawnDurable(EffectChain()) }
        _ = await node.settled()
        trimMalloc()
        let plain = MemoryUse.now()
        func per(_ bytes: Int) -> Double { Double(bytes) / Double(flows) }
        report.figure("flows_waiting_bytes", per(flowUse.anonymous - before.anonymous), "bytes per waiting flow",
                      note: "memory (anonymous RSS) of a second batch of \(flows) flows waiting on a signal, beside a first that warmed the node, after the allocator's collect (before it: \(Int(per(highWater)))); an idle plain durable process, measured alike: \(Int(per(plain.anonymous - plainBefore.anonymous)))")
        report.figure("flows_waiting_rss_bytes", per(flowUse.resident - before.resident), "bytes per waiting flow",
                      note: "all RSS, with the journal's pages the map brought in (file-backed, the kernel's to reclaim); a plain durable process: \(Int(per(plain.resident - plainBefore.resident)))")

        // No-op steps: the signal, then the steps, each its own turn and commit.
        let schedulers = node.schedulers.count
        let rate = try await stepRate(of: handles, steps: steps, on: node)
        report.figure("flows_steps", rate, "steps/s",
                      note: "\(flows) concurrent flows × \(steps + 1) steps (a signal, then sleeps of zero: each wake-up journaled with its turn, taken in the next), each a turn; \(schedulers) schedulers: \(Int(rate / Double(schedulers))) per scheduler")
        // The same on durable timers (1 ms sleeps): a timer's record, its firing's record, two commits a step.
        let timed = try await startAll(flows) { _ in try await node.startFlow(TimerStepperFlow(), steps) }
        while try await node.log(of: timed[timed.count - 1]).status != .waiting { try await Task.sleep(for: .milliseconds(5)) }
        let timerRate = try await stepRate(of: timed, steps: steps, on: node)
        report.figure("flows_timer_steps", timerRate, "steps/s",
                      note: "the same with 1 ms sleeps, each on a durable timer; \(Int(timerRate / Double(schedulers))) per scheduler")

        // Start to first step: one flow at a time.
        stamps.withLock { $0 = [:] }
        var latencies: [Double] = []
        for n in 0..<starts {
            let begun = now()
            _ = try await node.startFlow(FirstStepFlow(), n)
            while true {
                if let at = stamps.withLock({ $0[n] }) {
                    latencies.append(at - begun)
                    break
                }
                try await Task.sleep(for: .microseconds(50))
            }
        }
        latencies.sort()
        report.figure("flows_first_step_p50", latencies[latencies.count / 2] * 1e3, "ms",
                      note: "from startFlow to its first step's effect running, one flow at a time, \(starts) flows")
        report.figure("flows_first_step_p99", latencies[min(latencies.count - 1, latencies.count * 99 / 100)] * 1e3, "ms")

        try await node.shutdown()

        // A long flow rebuilt over its log after a restart, on a node of its
        // own (the node start above would revive the 40,000 processes here too).
        let longDirectory = try DurableBench.directory()
        defer { try? FileManager.default.removeItem(atPath: longDirectory) }
        var longOptions = options
        longOptions.path = longDirectory
        let first = try Node(durable: longOptions)
        let long = try await first.startFlow(LongFlow(), longSteps, name: "long")
        while true {
            let log = try await first.log(of: long)
            if log.status == .waiting, log.steps.count == longSteps + 1 { break }
            try await Task.sleep(for: .milliseconds(2))
        }
        try await first.shutdown()
        let opened = now()
        let again = try Node(durable: longOptions)
        let openTime = now() - opened
        guard let handle = again.flow(named: "long", as: LongFlow.self) else { throw FlowError.notAFlow("long") }
        let signalled = now()
        try await again.signal(handle, "go", 1)
        _ = try await again.result(of: handle, timeout: .seconds(60))
        report.figure("flows_rebuild_\(longSteps)_steps", (now() - signalled) * 1e3, "ms",
                      note: "after a restart (node start \(Int(openTime * 1e3)) ms), a signal to a flow of \(longSteps) steps: its code re-run over its log, then the turn; to the result")
        try await again.shutdown()
    }

    private static func startAll<T: Sendable>(_ count: Int, _ start: @escaping @Sendable (Int) async throws -> T) async throws -> [T] {
        try await withThrowingTaskGroup(of: [T].self) { group in
            for slice in 0..<8 {
                group.addTask {
                    var made: [T] = []
                    for index in stride(from: slice, to: count, by: 8) { made.append(try await start(index)) }
                    return made
                }
            }
            var all: [T] = []
            for try await made in group { all.append(contentsOf: made) }
            return all
        }
    }
}
