import Foundation
import Testing
@testable import CalfGraphs

/// A watch set's files and digest: what counts as a change.
@Suite struct WatchSetIndexTests {
    @Test func aSaveOfTheSameBytesIsNoChangeAndTheDigestFollowsContent() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("calf-index-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/src", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let file = root + "/src/a.swift"
        try Data("let a = 1\n".utf8).write(to: URL(fileURLWithPath: file))
        let graph = try GraphFile(path: root + "/dev.yaml", text: """
            graph: dev
            watches:
              - watch: sources
                paths: [src/]
            tasks:
              - job: build
                shell: "true"
                inputs: [sources]
            """, behaviors: []).spec
        var index = WatchSetIndex(WatchSetMatcher(graph.watches[0], in: graph), paths: graph.watches[0].paths)
        #expect(index.rescan() == [file])
        let first = index.digest

        // Written again with the same bytes (a new mtime), touched, saved atomically unchanged: no change.
        try Data("let a = 1\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(index.update([file]).isEmpty, "a save of the same bytes counted as a change")
        var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, file, &times, 0) == 0)
        #expect(index.update([file]).isEmpty, "a touch counted as a change")
        try Data("let a = 1\n".utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        #expect(index.update([file]).isEmpty, "an atomic save of the same bytes counted as a change")
        #expect(index.digest == first)
        var rescanned = WatchSetIndex(WatchSetMatcher(graph.watches[0], in: graph), paths: graph.watches[0].paths)
        _ = rescanned.rescan()
        #expect(rescanned.digest == first, "a fresh scan of the same content digests differently (a node start would see a change)")

        // New bytes of the same size are a change.
        try Data("let a = 2\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(index.update([file]) == [file])
        #expect(index.digest != first)
    }
}
