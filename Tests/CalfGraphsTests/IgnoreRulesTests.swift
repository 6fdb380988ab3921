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

    @Test func aNestedGitignoreAppliesBelowItsDirectoryAndDecidesOverItsParents() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("calf-ignore-\(UUID().uuidString)").path
        for directory in ["web/dist", "web/src", "vendor/lib", "docs"] {
            try FileManager.default.createDirectory(atPath: root + "/" + directory, withIntermediateDirectories: true)
        }
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data("*.log\nvendor/\n".utf8).write(to: URL(fileURLWithPath: root + "/.gitignore"))
        try Data("/dist\n!debug.log\n*.map\n".utf8).write(to: URL(fileURLWithPath: root + "/web/.gitignore"))
        // Inside an ignored directory: never read.
        try Data("!*.log\n".utf8).write(to: URL(fileURLWithPath: root + "/vendor/lib/.gitignore"))
        let rules = IgnoreRules.gitignore(at: root)
        #expect(rules.ignores("web/dist", isDirectory: true) && rules.ignores("web/dist/app.js", isDirectory: false))
        #expect(!rules.ignores("dist", isDirectory: true), "web's anchored /dist applied at the root")
        #expect(!rules.ignores("docs/dist", isDirectory: true))
        #expect(rules.ignores("web/src/app.js.map", isDirectory: false) && !rules.ignores("docs/app.js.map", isDirectory: false))
        #expect(rules.ignores("web/server.log", isDirectory: false) && rules.ignores("docs/build.log", isDirectory: false))
        #expect(!rules.ignores("web/debug.log", isDirectory: false) && !rules.ignores("web/src/debug.log", isDirectory: false),
                "the nested file's ! did not decide over the root's pattern")
        #expect(rules.ignores("docs/debug.log", isDirectory: false))
        #expect(rules.ignores("vendor/lib/x.log", isDirectory: false))
    }
}
