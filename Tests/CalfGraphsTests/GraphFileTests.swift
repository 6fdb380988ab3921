import Foundation
import Testing
@testable import CalfGraphs

/// A graph file in a temporary project directory, read as a node would.
private struct Project {
    let root: String
    var file: String { root + "/dev.yaml" }

    /// Its own `bin/` comes first in PATH, with the programs its graphs name (the machine may have none of them).
    var searchPath: String { root + "/bin:/usr/bin:/bin" }

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("calf-graph-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/Sources", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        for program in ["swift", "curl", "python3"] {
            _ = FileManager.default.createFile(atPath: root + "/bin/" + program, contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755])
        }
    }

    /// The graph, or the problems' lines.
    func read(_ text: String, behaviors: Set<String> = ["CoverageSummary"]) -> Result<GraphSpec, GraphFileProblems> {
        Result { () throws(GraphFileProblems) -> GraphSpec in
            try GraphFile(path: file, text: text, behaviors: behaviors, searchPath: searchPath).spec
        }
    }

    func problems(_ text: String) -> [String] {
        guard case .failure(let found) = read(text) else { return [] }
        return found.problems.map(\.description)
    }

    func remove() { try? FileManager.default.removeItem(atPath: root) }
}

@Suite struct GraphFileTests {
    static let example = """
        graph: dev
        debounce: 150
        watches:
          - watch: sources
            paths: [Sources/, Package.swift]
          - watch: config
            paths: [config/dev.toml]
        tasks:
          - job: build
            command: [swift, build]
            inputs: [sources]
            outputs: [.build/debug/]
          - job: test
            shell: "swift test 2>&1 | tail -20"
            dependsOn: [build]
            onBusy: restart
          - job: lint
            script: |
              import sys
            interpreter: [python3]
          - daemon: server
            command: [.build/debug/Server, serve]
            inputs: [config]
            dependsOn:
              build: { condition: succeeded, cutoff: outputs }
            ready: { http: "http://127.0.0.1:8080/health" }
            reload: SIGHUP
          - job: smoke
            command: [curl, -fsS, "http://127.0.0.1:8080/"]
            dependsOn: [server]
          - worker: coverage
            behavior: CoverageSummary
            config: { threshold: 80 }
            dependsOn: { test: completed }
        """

    @Test func aRealisticGraphReadsWithItsDefaultsAndPaths() throws {
        let project = try Project()
        defer { project.remove() }
        let graph = try project.read(Self.example).get()
        #expect(graph.id == "dev")
        #expect(graph.root == project.root)
        #expect(graph.debounce == 150 && graph.maxWait == 10_000)
        #expect(graph.tasks.map(\.id) == ["build", "test", "lint", "server", "smoke", "coverage"])
        #expect(graph.watches.first?.paths == [project.root + "/Sources", project.root + "/Package.swift"])
        let build = try #require(graph.task("build"))
        #expect(build.operation == .command(["swift", "build"]) && build.onBusy == .queue && build.onStart == .ifStale)
        #expect(build.outputs == [project.root + "/.build/debug"])
        #expect(graph.task("test")?.dependsOn == [TaskDependency(task: "build", condition: .succeeded, cutoffOnOutputs: false, cascade: false)])
        #expect(graph.task("test")?.onBusy == .restart)
        #expect(graph.task("lint")?.operation == .script("import sys\n", interpreter: ["python3"]))
        let server = try #require(graph.task("server"))
        #expect(server.dependsOn == [TaskDependency(task: "build", condition: .succeeded, cutoffOnOutputs: true, cascade: false)])
        #expect(server.ready == ReadinessSpec(probe: .http("http://127.0.0.1:8080/health"), interval: 250, timeout: 30_000))
        #expect(server.reload == "SIGHUP" && server.restart == "permanent")
        // A list names a daemon: its default condition, ready.
        #expect(graph.task("smoke")?.dependsOn.first?.condition == .ready)
        #expect(graph.task("coverage")?.behavior == "CoverageSummary")
        #expect(graph.task("coverage")?.dependsOn.first?.condition == .completed)
    }

    @Test func anUnknownKeyIsNamedWithItsPlaceAndTheKeysThatFit() throws {
        let project = try Project()
        defer { project.remove() }
        let problems = project.problems("""
            graph: dev
            tasks:
              - job: build
                command: [swift, build]
                depends_on: [codegen]
            """)
        #expect(problems == [
            "\(project.file):5:5: unknown key 'depends_on' for a job (expected: \(GraphFileReader.jobKeys.joined(separator: ", ")))",
        ])
    }

    @Test func aCycleIsReportedWithItsWholePathAndEachEdgesLine() throws {
        let project = try Project()
        defer { project.remove() }
        let problems = project.problems("""
            graph: dev
            tasks:
              - job: codegen
                command: [true]
                dependsOn: [test]
              - job: build
                command: [true]
                dependsOn: [codegen]
              - job: test
                command: [true]
                dependsOn: [build]
              - job: alone
                command: [true]
                dependsOn: [alone]
            """)
        #expect(problems == [
            "\(project.file):5:17: dependsOn forms a cycle: codegen → test → build → codegen (codegen → test at line 5; test → build at line 11; build → codegen at line 8)",
            "\(project.file):14:17: dependsOn forms a cycle: alone → alone (alone → alone at line 14)",
        ])
    }

    @Test func anUnknownDependencyOrInputNamesTheClosestKnownName() throws {
        let project = try Project()
        defer { project.remove() }
        let problems = project.problems("""
            graph: dev
            watches:
              - watch: sources
                paths: [Sources/]
            tasks:
              - job: build
                command: [true]
                inputs: [source]
              - daemon: server
                command: [true]
                dependsOn: [bulid]
              - job: deploy
                command: [true]
                dependsOn: [production]
            """)
        #expect(problems == [
            "\(project.file):8:14: job build takes input 'source', which is not a watch set (did you mean 'sources'? watch sets: sources)",
            "\(project.file):11:17: task server depends on 'bulid', which is not a task (did you mean 'build'? tasks: build, deploy, server)",
            "\(project.file):14:17: task deploy depends on 'production', which is not a task (tasks: build, deploy, server)",
        ])
    }

    @Test func aConditionThatDoesNotFitItsUpstreamsKindIsRefused() throws {
        let project = try Project()
        defer { project.remove() }
        let problems = project.problems("""
            graph: dev
            tasks:
              - daemon: db
                command: [true]
              - job: migrate
                command: [true]
                dependsOn: { db: succeeded }
              - job: seed
                command: [true]
                dependsOn: { migrate: ready }
            """)
        #expect(problems == [
            "\(project.file):7:18: 'db' is a daemon; use ready, started or exited, not succeeded",
            "\(project.file):10:18: 'migrate' is a job; use succeeded or completed, not ready",
        ])
    }

    @Test func aTaskNeedsExactlyOneThingToRunAndItsProgramInPath() throws {
        let project = try Project()
        defer { project.remove() }
        let problems = project.problems("""
            graph: dev
            tasks:
              - job: lint
                command: [swiftlint-that-is-not-here]
              - job: both
                command: [true]
                shell: "true"
              - job: none
                cwd: Sources
              - job: elsewhere
                command: [true]
                cwd: missing/dir
            """)
        #expect(problems == [
            "\(project.file):4:14: job lint: 'swiftlint-that-is-not-here' is not in PATH (\(project.searchPath))",
            "\(project.file):5:5: job both needs exactly one of command, shell, script (it has command and shell)",
            "\(project.file):8:5: job none needs exactly one of command, shell, script",
            "\(project.file):12:10: job elsewhere: cwd 'missing/dir' is not a directory (\(project.root)/missing/dir)",
        ])
    }

    @Test func duplicateIdsRangesAndUnknownBehaviorsAreAllReportedAtOnce() throws {
        let project = try Project()
        defer { project.remove() }
        let problems = project.problems("""
            graph: dev
            debounce: 5
            parallel: 0
            tasks:
              - job: test
                command: [true]
              - job: test
                command: [true]
              - worker: summary
                behavior: Summry
            """)
        #expect(problems == [
            "\(project.file):2:11: debounce must be a whole number of at least 10, not '5'",
            "\(project.file):3:11: parallel must be a whole number of at least 1, not '0'",
            "\(project.file):7:5: task id 'test' appears twice (first at line 5)",
            "\(project.file):10:15: unknown behavior 'Summry' for worker summary (known: CoverageSummary)",
        ])
    }

    @Test func maxWaitBelowDebounceAndNotYAMLAreRefused() throws {
        let project = try Project()
        defer { project.remove() }
        #expect(project.problems("graph: dev\ndebounce: 500\nmaxWait: 100\ntasks: []\n") == [
            "\(project.file):3:10: maxWait (100 ms) must be at least debounce (500 ms)",
        ])
        let garbage = project.problems("graph: [unclosed\n")
        #expect(garbage.count == 1 && garbage[0].hasPrefix("\(project.file): not YAML:"), "\(garbage)")
    }

    @Test func outputsInsideAnInputSetAreAcceptedAndNoted() throws {
        let project = try Project()
        defer { project.remove() }
        let checked = try GraphFile(path: project.file, text: """
            graph: dev
            watches:
              - watch: everything
                paths: [.]
            tasks:
              - job: build
                command: [swift, build]
                inputs: [everything]
                outputs: [.build/]
            """, behaviors: [], searchPath: project.searchPath)
        #expect(checked.notes == [
            "\(project.file):9:14: job build writes \(project.root)/.build, inside its input 'everything' (\(project.root)): outputs are never watched, so it is left out of that set",
        ])
    }

    @Test func theClosestNameCountsATranspositionAsOneEdit() {
        #expect(ClosestName.editDistance(Array("bulid"), Array("build")) == 1)
        #expect(ClosestName.to("bulid", among: ["codegen", "build", "test"]) == "build")
        #expect(ClosestName.to("production", among: ["build", "test"]) == nil)
    }

    @Test func tarjanFindsEveryCycleOfALongChainWithoutRecursion() {
        // 10,000 tasks in one ring, and a separate pair.
        let names = (0..<10_000).map { "t\($0)" } + ["a", "b"]
        let components = StronglyConnected.components(of: names) { name in
            switch name {
            case "a": ["b"]
            case "b": ["a"]
            default: ["t\((Int(name.dropFirst())! + 1) % 10_000)"]
            }
        }
        #expect(components.map(\.count).sorted() == [2, 10_000])
        #expect(StronglyConnected.cycle(from: "a", within: ["a", "b"]) { $0 == "a" ? ["b"] : ["a"] } == ["a", "b", "a"])
    }
}
