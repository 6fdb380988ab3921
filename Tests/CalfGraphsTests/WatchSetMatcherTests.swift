import Foundation
import Testing
@testable import CalfGraphs

@Suite struct WatchSetMatcherTests {
    @Test func aWatchSetsFilesDirectoriesIgnoresAndOutputs() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("calf-matcher-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/Sources/App", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/config", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data("*.swp\n".utf8).write(to: URL(fileURLWithPath: root + "/.gitignore"))
        let text = """
            graph: dev
            ignore: ["**/*.generated.swift"]
            watches:
              - watch: sources
                paths: [Sources/, Package.swift, config/dev.toml, later/missing.txt]
                ignore: [Sources/App/Fixtures/]
            tasks:
              - job: build
                shell: "true"
                inputs: [sources]
                outputs: [Sources/App/Resources/]
            """
        let graph = try GraphFile(path: root + "/dev.yaml", text: text, behaviors: []).spec
        let watch = try #require(graph.watches.first)
        let matcher = WatchSetMatcher(watch, in: graph, gitignore: IgnoreRules.gitignore(at: root))
        // Directories recursively; files through their directory; a missing path through its nearest ancestor.
        #expect(matcher.directories == [root], "the root holds Package.swift and later/, so it covers the rest")
        #expect(matcher.contains(root + "/Sources/App/main.swift", isDirectory: false))
        #expect(matcher.contains(root + "/Package.swift", isDirectory: false))
        #expect(matcher.contains(root + "/config/dev.toml", isDirectory: false))
        #expect(matcher.contains(root + "/later/missing.txt", isDirectory: false), "once it exists")
        // Not the set's: a neighbour of one of its files.
        #expect(!matcher.contains(root + "/README.md", isDirectory: false))
        #expect(!matcher.contains(root + "/config/prod.toml", isDirectory: false))
        // Ignored: the graph's pattern, the set's, the root's .gitignore; and a task's output.
        #expect(!matcher.contains(root + "/Sources/App/Model.generated.swift", isDirectory: false))
        #expect(!matcher.contains(root + "/Sources/App/Fixtures/a.json", isDirectory: false))
        #expect(matcher.excludes(root + "/Sources/App/Fixtures", isDirectory: true))
        #expect(!matcher.contains(root + "/Sources/App/.main.swift.swp", isDirectory: false))
        #expect(!matcher.contains(root + "/Sources/App/Resources/logo.png", isDirectory: false))
        #expect(matcher.excludes(root + "/Sources/App/Resources", isDirectory: true))
    }

    @Test func aSetOfOneDirectoryIsWatchedThereAndNoHigher() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("calf-matcher-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/Sources", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/Tests", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let graph = try GraphFile(path: root + "/dev.yaml", text: """
            graph: dev
            watches:
              - watch: code
                paths: [Sources/, Tests/]
            tasks:
              - job: test
                shell: "true"
                inputs: [code]
            """, behaviors: []).spec
        let matcher = WatchSetMatcher(try #require(graph.watches.first), in: graph)
        #expect(matcher.directories == [root + "/Sources", root + "/Tests"])
    }
}
