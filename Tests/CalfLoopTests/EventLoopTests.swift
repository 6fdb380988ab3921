import CLibUV
import Synchronization
import Testing
@testable import CalfLoop

/// A value a test waits for from another thread.
final class Box<T: Sendable>: Sendable {
    private let value = Mutex<T?>(nil)
    func set(_ new: T) { value.withLock { $0 = new } }
    var current: T? { value.withLock { $0 } }

    /// Polls until a value is set or `seconds` pass.
    func wait(seconds: Double = 5) async -> T? {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if let current { return current }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return current
    }
}

/// Shared mutable state for tests, behind a lock.
final class Locked<T: Sendable>: Sendable {
    private let value: Mutex<T>
    init(_ initial: T) { value = Mutex(initial) }
    func withLock<R: Sendable>(_ body: (inout T) -> R) -> R { value.withLock { body(&$0) } }
}

@Suite(.timeLimit(.minutes(2))) struct EventLoopTests {
    @Test func jobsRunInOrderOnTheLoopThread() async throws {
        let loop = try EventLoop(name: "test")
        let seen = Locked<[Int]>([])
        let onThread = Locked<Bool>(true)
        let done = Box<Bool>()
        for i in 0..<1000 {
            loop.execute {
                seen.withLock { $0.append(i) }
                if !loop.inEventLoop { onThread.withLock { $0 = false } }
                if i == 999 { done.set(true) }
            }
        }
        #expect(await done.wait() == true)
        #expect(seen.withLock { $0 } == Array(0..<1000))
        #expect(onThread.withLock { $0 })
        #expect(!loop.inEventLoop)
        let report = try loop.shutdown()
        #expect(report.handlesClosedAtStop == 0)
    }

    @Test func submissionsFromManyThreadsAllRun() async throws {
        let loop = try EventLoop(name: "test")
        let count = Locked<Int>(0)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    for _ in 0..<2000 { loop.execute { count.withLock { $0 += 1 } } }
                }
            }
        }
        let done = Box<Bool>()
        loop.execute { done.set(true) }
        #expect(await done.wait() == true)
        #expect(count.withLock { $0 } == 16_000)
        try loop.shutdown()
    }

    @Test func timerFiresAndStoppedTimerDoesNot() async throws {
        let loop = try EventLoop(name: "test")
        let fired = Box<Bool>()
        let stoppedFired = Locked<Bool>(false)
        loop.execute {
            do {
                let timer = try LoopTimer(loop: loop)
                try timer.start(milliseconds: 10) {
                    fired.set(true)
                    timer.close()
                }
                let stopped = try LoopTimer(loop: loop)
                try stopped.start(milliseconds: 5) { stoppedFired.withLock { $0 = true } }
                stopped.stop()
                stopped.close()
            } catch {
                Issue.record("timer setup failed: \(error)")
            }
        }
        #expect(await fired.wait() == true)
        // libuv runs due timers in deadline order: had the stopped 5 ms
        // timer still been armed, it would have fired before the 10 ms one.
        #expect(stoppedFired.withLock { $0 } == false)
        let report = try loop.shutdown()
        #expect(report.handlesClosedAtStop == 0)
    }

    @Test func repeatingTimerRepeats() async throws {
        let loop = try EventLoop(name: "test")
        let ticks = Locked<Int>(0)
        let done = Box<Bool>()
        loop.execute {
            guard let timer = try? LoopTimer(loop: loop) else { return }
            try? timer.start(milliseconds: 1, repeatMilliseconds: 1) {
                let n = ticks.withLock { $0 += 1; return $0 }
                if n == 5 { timer.close(); done.set(true) }
            }
        }
        #expect(await done.wait() == true)
        #expect(ticks.withLock { $0 } == 5)
        try loop.shutdown()
    }

    @Test func shutdownReportsAndClosesALeakedHandle() async throws {
        let loop = try EventLoop(name: "test")
        let made = Box<Bool>()
        loop.execute {
            if let timer = try? LoopTimer(loop: loop) {
                try? timer.start(milliseconds: 60_000) {}
                made.set(true)
            }
        }
        #expect(await made.wait() == true)
        // The timer was never closed: the loop closes it itself and says so,
        // and uv_loop_close still succeeds (shutdown does not throw).
        let report = try loop.shutdown()
        #expect(report.handlesClosedAtStop == 1)
        #expect(try loop.shutdown() == report)
    }

    @Test func loopErrorCarriesLibuvText() {
        let error = LoopError(code: UV_EBUSY.rawValue, operation: "uv_loop_close")
        #expect(error.name == "EBUSY")
        #expect(error.description == "uv_loop_close failed: resource busy or locked (EBUSY)")
        #expect(throws: LoopError.self) { try LoopError.check(UV_EINVAL.rawValue, "uv_timer_start") }
        #expect((try? LoopError.check(0, "ok")) == 0)
    }
}
