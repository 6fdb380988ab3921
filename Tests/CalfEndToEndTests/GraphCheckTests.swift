import Foundation
import Testing

/// `calf graph check FILE` through the real binary: what CI runs on a committed graph file.
@Suite(.timeLimit(.minutes(2))) struct GraphCheckTests {
    @Test func aGoodGraphFilePassesAndABadOneExitsOneWithEveryProblemsPlace() async throws {
        try await withTemporaryDataDirectory { dir in
            let good = dir + "/good.yaml"
            try Data("""
                graph: dev
                watches:
                  - watch: sources
                    paths: [.]
                tasks:
                  - job: build
                    shell: "echo built"
                    inputs: [sources]
                  - job: test
                    command: [sh, -c, "echo tested"]
                    dependsOn: [build]
                """.utf8).write(to: URL(fileURLWithPath: good))
            var (status, out, err) = try await runCalf(["graph", "check", good])
            #expect(status == 0, "\(err)")
            #expect(out == "\(good): graph dev: 2 jobs, 1 watch set: no problem\n")

            let bad = dir + "/bad.yaml"
            try Data("""
                graph: dev
                tasks:
                  - job: build
                    command: [sh, -c, "true"]
                    dependsOn: [test]
                  - job: test
                    command: [sh, -c, "true"]
                    dependsOn: [build, lnit]
                """.utf8).write(to: URL(fileURLWithPath: bad))
            (status, out, err) = try await runCalf(["graph", "check", bad])
            #expect(status == 1)
            #expect(out.isEmpty)
            #expect(err == """
                \(bad):8:24: task test depends on 'lnit', which is not a task (tasks: build, test)
                \(bad):5:17: dependsOn forms a cycle: build → test → build (build → test at line 5; test → build at line 8)

                """, "\(err)")
        }
    }
}
