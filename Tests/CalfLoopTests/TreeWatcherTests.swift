import Foundation
import Synchronization
import Testing
@testable import CalfLoop

/// A temporary directory watched by a `TreeWatcher` on a loop of its own,
/// with what it reported.
private final class WatchedTree: Sendable {
    let root: String
    let loop: EventLoop
    private let watcher = Locked<TreeWatcher?>(nil)
    private let events = Locked<[TreeWatchEvent]>([])

    init(ignoring ignored: @escaping @Sendable (String, Bool) -> Bool = { _, _ in false },
         prepare: (String) throws -> Void = { _ in }) async throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("calf-watch-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try prepare(root)
        loop = try EventLoop(name: "watch")
        let made = Box<String>()
        loop.execute { [self, root] in
            do {
                let watcher = try TreeWatcher(loop: loop, ignored: ignored) { event in self.events.withLock { $0.append(event) } }
                try watcher.watch(root)
                self.watcher.withLock { $0 = watcher }
                made.set("")
            } catch {
                made.set("\(error)")
            }
        }
        let error = await made.wait()
        #expect(error == "", "the watcher did not start: \(error ?? "timed out")")
    }

    /// Directories watched (read on the loop).
    func watchCount() async -> Int {
        let count = Box<Int>()
        loop.execute { [self] in count.set(watcher.withLock { $0?.watchCount ?? 0 }) }
        return await count.wait() ?? -1
    }

    /// The changes reported so far.
    var changes: [TreeChange] {
        events.withLock { $0.flatMap { event -> [TreeChange] in if case .changes(let changes) = event { changes } else { [] } } }
    }

    var rescans: Int { events.withLock { $0.filter { if case .rescan = $0 { true } else { false } }.count } }

    /// Waits until `condition` holds of the changes, for up to 5 s.
    func waitFor(_ condition: @escaping ([TreeChange]) -> Bool) async -> Bool {
        for _ in 0..<500 {
            if condition(changes) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return condition(changes)
    }

    func path(_ relative: String) -> String { root + "/" + relative }

    func finish() throws {
        let closed = Box<Bool>()
        loop.execute { [self] in
            watcher.withLock { $0?.close() }
            closed.set(true)
        }
        while closed.current == nil { usleep(1000) }
        _ = try loop.shutdown()
        try? FileManager.default.removeItem(atPath: root)
    }
}

private func write(_ path: String, _ text: String = "x") throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

@Suite(.serialized, .timeLimit(.minutes(2))) struct TreeWatcherTests {
    @Test func aFileInADirectoryMadeThisInstantIsSeenThoughItCameBeforeTheDirectorysWatch() async throws {
        let tree = try await WatchedTree()
        defer { try? tree.finish() }
        // mkdir -p a/b && touch a/b/f, at once: the file is there before a/b is watched.
        try FileManager.default.createDirectory(atPath: tree.path("a/b"), withIntermediateDirectories: true)
        try write(tree.path("a/b/f"))
        #expect(await tree.waitFor { $0.contains { $0.path == tree.path("a/b/f") && $0.kind == .created } }, "\(tree.changes)")
        #expect(tree.changes.contains(TreeChange(path: tree.path("a"), kind: .created, isDirectory: true)))
        // And the new directories are watched from now on.
        #expect(await tree.watchCount() == 3)
        try write(tree.path("a/b/g"))
        #expect(await tree.waitFor { $0.contains { $0.path == tree.path("a/b/g") } })
    }

    @Test func anEditorsAtomicSaveIsSeenEveryTime() async throws {
        let tree = try await WatchedTree(prepare: { try write($0 + "/main.swift", "v0") })
        defer { try? tree.finish() }
        for version in 1...2 {
            // vim's and JetBrains' way: write a temporary file, rename it over the file.
            try write(tree.path(".main.swift.tmp"), "v\(version)")
            #expect(rename(tree.path(".main.swift.tmp"), tree.path("main.swift")) == 0)
            let saved = tree.path("main.swift")
            let seen = await tree.waitFor { changes in changes.filter { $0.path == saved && $0.kind == .movedTo }.count == version }
            #expect(seen, "save \(version): \(tree.changes)")
        }
    }

    @Test func aTreeMovedOutOfTheWatchedOneIsNoLongerWatched() async throws {
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("calf-outside-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let tree = try await WatchedTree(prepare: { try FileManager.default.createDirectory(atPath: $0 + "/lib/deep", withIntermediateDirectories: true) })
        defer { try? tree.finish() }
        #expect(await tree.watchCount() == 3)
        #expect(rename(tree.path("lib"), outside + "/lib") == 0)
        let moved = TreeChange(path: tree.path("lib"), kind: .movedFrom, isDirectory: true)
        #expect(await tree.waitFor { $0.contains(moved) })
        #expect(await tree.watchCount() == 1)
        // What happens to it now is none of this watcher's business.
        try write(outside + "/lib/deep/x")
        try write(tree.path("marker"))
        #expect(await tree.waitFor { $0.contains { $0.path == tree.path("marker") } })
        #expect(!tree.changes.contains { (change: TreeChange) in change.path.hasSuffix("/x") }, "\(tree.changes)")
    }

    @Test func anIgnoredTreeCostsNoWatchAndNothingInItIsReported() async throws {
        let tree = try await WatchedTree(ignoring: { path, _ in path.hasSuffix("/node_modules") || path.contains("/node_modules/") }) { root in
            for n in 0..<300 {
                try FileManager.default.createDirectory(atPath: root + "/node_modules/package-\(n)/lib", withIntermediateDirectories: true)
            }
            try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: true)
        }
        defer { try? tree.finish() }
        #expect(await tree.watchCount() == 2) // the root and src/
        try write(tree.path("node_modules/package-1/lib/index.js"))
        try FileManager.default.createDirectory(atPath: tree.path("node_modules/package-new"), withIntermediateDirectories: true)
        try write(tree.path("src/app.js"))
        #expect(await tree.waitFor { $0.contains { $0.path == tree.path("src/app.js") } })
        #expect(!tree.changes.contains { $0.path.contains("node_modules") }, "\(tree.changes)")
        #expect(await tree.watchCount() == 2)
    }

    @Test func aKernelQueueOverflowIsARescanThatWatchesWhatAppearedMeanwhile() async throws {
        let tree = try await WatchedTree()
        defer { try? tree.finish() }
        let queued = Int((try? String(contentsOfFile: "/proc/sys/fs/inotify/max_queued_events", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 16_384
        // The loop is held up while more events than the kernel queues are made (two per file: made, written).
        let release = DispatchSemaphore(value: 0)
        let held = Box<Bool>()
        tree.loop.execute {
            held.set(true)
            release.wait()
        }
        #expect(await held.wait() == true)
        for n in 0..<(queued / 2 + 500) { try write(tree.path("f\(n)")) }
        // Its creation is past the queue's end: only the rescan can find it.
        try FileManager.default.createDirectory(atPath: tree.path("late"), withIntermediateDirectories: true)
        release.signal()
        for _ in 0..<500 where tree.rescans == 0 { try await Task.sleep(for: .milliseconds(10)) }
        #expect(tree.rescans == 1)
        #expect(!tree.changes.contains { $0.path == tree.path("late") }, "its creation was not lost")
        #expect(await tree.watchCount() == 2)
        try write(tree.path("late/after"))
        #expect(await tree.waitFor { $0.contains { $0.path == tree.path("late/after") } })
    }

    @Test func watchingAMissingDirectorySaysSo() async throws {
        let loop = try EventLoop(name: "watch")
        let answer = Box<String>()
        loop.execute {
            do {
                let watcher = try TreeWatcher(loop: loop) { _ in }
                defer { watcher.close() }
                do {
                    try watcher.watch("/nonexistent/calf-watch")
                    answer.set("watched")
                } catch {
                    answer.set("\(error)")
                }
            } catch {
                answer.set("\(error)")
            }
        }
        #expect(await answer.wait() == "cannot watch /nonexistent/calf-watch: no such directory")
        _ = try loop.shutdown()
    }
}
