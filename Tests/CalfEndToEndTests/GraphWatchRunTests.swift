import Foundation
import Testing

extension GraphEndToEnd {
    /// What a graph's watch sets see, through the real binary: a polled set,
    /// saves that change nothing, and the error when inotify's watches run out.
    @Suite(.serialized, .timeLimit(.minutes(3))) struct GraphWatchRunTests {
        typealias Project = GraphRunTests.Project

        @Test func aPolledSetTriggersOnAnEditAndASaveOfTheSameBytesTriggersNothing() async throws {
            try await withTemporaryDataDirectory { dir in
                let project = try Project(in: dir, graph: """
                    graph: dev
                    watches:
                      - watch: sources
                        paths: [src/]
                        poll: 100
                    tasks:
                      - job: build
                        shell: "echo build $(cat src/a.txt) >> events"
                        inputs: [sources]
                    """)
                let node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                defer { _ = node.stop() }
                #expect(try await project.lines(count: 1) == ["build v1"])
                try project.write("v2", to: "src/a.txt")
                #expect(try await project.lines(count: 2).last == "build v2", "a polled set did not see an edit")
                // The same bytes again, and a touch: no change.
                try project.write("v2", to: "src/a.txt")
                var times = [timespec(tv_sec: 2_000_000, tv_nsec: 0), timespec(tv_sec: 2_000_000, tv_nsec: 0)]
                #expect(utimensat(AT_FDCWD, project.root + "/src/a.txt", &times, 0) == 0)
                try await Task.sleep(for: .seconds(1))
                #expect(project.lines.count == 2, "a save that changed nothing ran the build: \(project.lines)")
            }
        }

        /// Whether this machine lets a test make a user namespace with a lower inotify limit.
        static let namespaces: Bool = {
            guard let status = try? spawnClosingDescriptors(["/usr/bin/unshare", "-U", "-r", "/bin/sh", "-c", "echo 4 > /proc/sys/user/max_inotify_watches"]) else { return false }
            return status.0 == 0
        }()

        @Test(.enabled(if: namespaces, "needs unshare -U (user namespaces) to lower the inotify limit for one node"))
        func runningOutOfInotifyWatchesIsAClearErrorNamingTheLimit() async throws {
            try await withTemporaryDataDirectory { dir in
                let project = try Project(in: dir, graph: """
                    graph: dev
                    watches:
                      - watch: sources
                        paths: [src/]
                    tasks:
                      - job: build
                        shell: "echo build >> events"
                        inputs: [sources]
                    """)
                for n in 0..<12 { try FileManager.default.createDirectory(atPath: project.root + "/src/d\(n)/e", withIntermediateDirectories: true) }
                let calf = try calfBinary().path
                let (status, _, errors) = try await runProgram("/usr/bin/unshare", [
                    "-U", "-r", "/bin/sh", "-c",
                    "echo 8 > /proc/sys/user/max_inotify_watches && exec \"$0\" node --data \"$1\" --durability process \"$2\"",
                    calf, project.data, project.graph,
                ])
                #expect(status != 0, "the node started with too few inotify watches")
                #expect(errors.contains("fs.inotify.max_user_watches") && errors.contains("user.max_inotify_watches of this user namespace is 8"), "\(errors)")
                #expect(errors.contains("poll"), "\(errors)")
            }
        }
    }

    /// What changed while the node was down, said at the next start.
    @Suite(.serialized, .timeLimit(.minutes(2))) struct GraphDownTimeTests {
        @Test func theFilesEditedWhileTheNodeWasDownAreNamedAndOnlyTheirTasksRun() async throws {
            try await withTemporaryDataDirectory { dir in
                let project = try GraphRunTests.Project(in: dir, graph: """
                    graph: dev
                    watches:
                      - watch: sources
                        paths: [src/]
                      - watch: docs
                        paths: [docs/]
                    tasks:
                      - job: build
                        shell: "echo build >> events"
                        inputs: [sources]
                      - job: site
                        shell: "echo site >> events"
                        inputs: [docs]
                    """)
                try FileManager.default.createDirectory(atPath: project.root + "/docs", withIntermediateDirectories: true)
                try project.write("# docs", to: "docs/index.md")
                var node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                #expect(Set(try await project.lines(count: 2)) == ["build", "site"])
                try await Task.sleep(for: .milliseconds(300))
                _ = await node.stop()

                try project.write("v2", to: "src/a.txt")
                try project.write("new", to: "src/b.txt")
                node = try await NodeProcess(data: project.data, tree: project.graph, durability: "process")
                defer { _ = node.stop() }
                #expect(try await project.lines(count: 3).last == "build")
                var table = ""
                let deadline = Date().addingTimeInterval(10)
                while Date() < deadline, !table.contains("changed while the node was down") {
                    table = try await runShell(project.data, ["graph"]).1
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(table.contains("changed while the node was down: sources: a.txt, b.txt"), "\(table)")
                try await Task.sleep(for: .milliseconds(500))
                #expect(project.lines.filter { $0 == "site" }.count == 1, "a task whose files did not change ran again: \(project.lines)")
            }
        }
    }
}
