import Foundation
import Testing
@testable import CalfGraphs

@Suite struct IgnoreRulesTests {
    @Test func patternsMatchAsGitMatchesThem() {
        let rules = IgnoreRules([
            "# a comment", "", "*.o", "/build", "node_modules/", "docs/*.html", "**/generated/**", "a/**/z.txt",
            "*.log", "!keep.log", "\\#literal", "trailing   ",
        ])
        // No slash: at any depth, by name.
        #expect(rules.ignores("main.o", isDirectory: false))
        #expect(rules.ignores("src/deep/main.o", isDirectory: false))
        // A leading slash: the root's only.
        #expect(rules.ignores("build", isDirectory: true))
        #expect(rules.ignores("build/debug/app", isDirectory: false), "inside an ignored directory")
        #expect(!rules.ignores("src/build", isDirectory: true))
        // A trailing slash: directories only, at any depth.
        #expect(rules.ignores("web/node_modules", isDirectory: true))
        #expect(rules.ignores("web/node_modules/react/index.js", isDirectory: false))
        #expect(!rules.ignores("node_modules", isDirectory: false), "a file of that name is not ignored")
        // A slash inside: anchored; * stops at a slash.
        #expect(rules.ignores("docs/index.html", isDirectory: false))
        #expect(!rules.ignores("docs/api/index.html", isDirectory: false))
        #expect(!rules.ignores("src/docs/index.html", isDirectory: false))
        // ** is any number of directories.
        #expect(rules.ignores("generated/x.swift", isDirectory: false))
        #expect(rules.ignores("src/generated/deep/x.swift", isDirectory: false))
        #expect(rules.ignores("a/z.txt", isDirectory: false) && rules.ignores("a/b/c/z.txt", isDirectory: false))
        #expect(!rules.ignores("b/a/z.txt", isDirectory: false))
        // The last matching pattern decides; ! re-includes.
        #expect(rules.ignores("server.log", isDirectory: false))
        #expect(!rules.ignores("keep.log", isDirectory: false))
        // Escapes and trailing spaces.
        #expect(rules.ignores("#literal", isDirectory: false))
        #expect(rules.ignores("trailing", isDirectory: false))
        #expect(!rules.ignores("main.swift", isDirectory: false))
    }

    @Test func nothingUnderAnIgnoredDirectoryIsIncludedAgain() {
        let rules = IgnoreRules(["build/", "!build/keep.txt", "logs/*", "!logs/today.log"])
        #expect(rules.ignores("build/keep.txt", isDirectory: false))
        // A directory's contents ignored (not the directory): one of them may come back.
        #expect(!rules.ignores("logs", isDirectory: true))
        #expect(rules.ignores("logs/old.log", isDirectory: false))
        #expect(!rules.ignores("logs/today.log", isDirectory: false))
    }

    @Test func aRootsGitignoreAndExcludeAreRead() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("calf-ignore-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root + "/.git/info", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data(".build/\n*.swp\r\n".utf8).write(to: URL(fileURLWithPath: root + "/.gitignore"))
        try Data("secret.txt\n".utf8).write(to: URL(fileURLWithPath: root + "/.git/info/exclude"))
        let rules = IgnoreRules.gitignore(at: root).adding(IgnoreRules(["!important.swp"]))
        #expect(rules.ignores(".build/debug/app", isDirectory: false))
        #expect(rules.ignores("Sources/.main.swift.swp", isDirectory: false))
        #expect(rules.ignores("secret.txt", isDirectory: false))
        #expect(!rules.ignores("important.swp", isDirectory: false))
        #expect(!rules.ignores("Sources/main.swift", isDirectory: false))
        #expect(IgnoreRules.gitignore(at: root + "/nowhere") == IgnoreRules())
    }
}
