import Foundation
import Synchronization
import Testing
@testable import CalfLoop

/// A debouncer on a loop of its own, fed by the test or by a real watcher, with the batches it delivered.
private final class Debounced: Sendable {
    let loop: EventLoop
    private let debouncer = Locked<ChangeDebouncer?>(nil)
    private let watcher = Locked<TreeWatcher?>(nil)
    let batches = Locked<[(batch: ChangeDebouncer.Batch, at: ContinuousClock.Instant)]>([])

    init(quiet: Int, maxWait: Int, watching root: String? = nil) async throws {
        loop = try EventLoop(name: "debounce")
        let made = Box<String>()
        loop.execute { [self, loop] in
            do {
                let debouncer = try ChangeDebouncer(loop: loop, quiet: quiet, maxWait: maxWait) { batch in
                    self.batches.withLock { $0.append((batch, .now)) }
                }
                self.debouncer.withLock { $0 = debouncer }
                if let root {
                    let watcher = try TreeWatcher(loop: loop) { debouncer.take($0) }
                    try watcher.watch(root)
                    self.watcher.withLock { $0 = watcher }
                }
                made.set("")
            } catch {
                made.set("\(error)")
            }
        }
        #expect(await made.wait() == "")
    }

    func take(_ event: TreeWatchEvent) {
        loop.execute { [self] in debouncer.withLock { $0?.take(event) } }
    }

    func waitForBatches(_ count: Int, seconds: Double = 5) async -> Int {
        for _ in 0..<Int(seconds * 100) where batches.withLock({ $0.count }) < count { try? await Task.sleep(for: .milliseconds(10)) }
        return batches.withLock { $0.count }
    }

    func finish() throws {
        let closed = Box<Bool>()
        loop.execute { [self] in
            watcher.withLock { $0?.close() }
            debouncer.withLock { $0?.close() }
            closed.set(true)
        }
        while closed.current == nil { usleep(1000) }
        _ = try loop.shutdown()
    }
}

private func change(_ path: String, _ kind: TreeChange.Kind = .modified) -> TreeWatchEvent {
    .changes([TreeChange(path: path, kind: kind, isDirectory: false)])
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct ChangeDebouncerTests {
    @Test func fiftyWritesInABurstThroughARealWatcherAreOneBatch() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("calf-debounce-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let debounced = try await Debounced(quiet: 200, maxWait: 10_000, watching: root)
        defer { try? debounced.finish() }
        let file = root + "/main.swift"
        for n in 0..<50 { try Data("version \(n)".utf8).write(to: URL(fileURLWithPath: file)) }
        let lastWrite = ContinuousClock.now
        #expect(await debounced.waitForBatches(1) == 1)
        // And no second one after it.
        try await Task.sleep(for: .milliseconds(400))
        let batches = debounced.batches.withLock { $0 }
        #expect(batches.count == 1)
        #expect(batches.first?.batch.changes.map(\.path) == [file])
        #expect(batches.first.map { $0.at - lastWrite >= .milliseconds(190) } == true, "delivered before 200 ms of quiet")
    }

    @Test func constantWritesAreCappedByMaxWaitAndNothingIsLost() async throws {
        let debounced = try await Debounced(quiet: 200, maxWait: 400)
        defer { try? debounced.finish() }
        let began = ContinuousClock.now
        // A write every 30 ms for 1.2 s: never 200 ms of quiet.
        for n in 0..<40 {
            debounced.take(change("/project/f\(n)"))
            try await Task.sleep(for: .milliseconds(30))
        }
        let writesEnded = ContinuousClock.now
        #expect(await debounced.waitForBatches(3) >= 3)
        // Until the last write's batch is out (a loaded machine may take a while).
        for _ in 0..<500 where debounced.batches.withLock({ $0.reduce(0) { $0 + $1.batch.changes.count } }) < 40 {
            try await Task.sleep(for: .milliseconds(10))
        }
        let batches = debounced.batches.withLock { $0 }
        #expect(batches[0].at < writesEnded, "the first batch waited for quiet: \(batches[0].at - began) after the first write")
        let paths = batches.flatMap { $0.batch.changes.map(\.path) }
        #expect(paths == (0..<40).map { "/project/f\($0)" }, "each path in one batch, in order")
    }

    @Test func aPathIsOnceInABatchWithItsLastChangeAndARescanGoesWithIt() async throws {
        let debounced = try await Debounced(quiet: 50, maxWait: 1000)
        defer { try? debounced.finish() }
        debounced.take(change("/p/a", .created))
        debounced.take(change("/p/b"))
        debounced.take(change("/p/a", .removed))
        debounced.take(.rescan(reason: "overflow"))
        #expect(await debounced.waitForBatches(1) == 1)
        let batch = debounced.batches.withLock { $0[0].batch }
        #expect(batch.changes == [TreeChange(path: "/p/a", kind: .removed, isDirectory: false), TreeChange(path: "/p/b", kind: .modified, isDirectory: false)])
        #expect(batch.rescan == "overflow")
    }
}
