import SwiftCompilerPlugin
import SwiftSyntaxMacros

/// The compiler plugin that holds Calf's macros.
@main
struct CalfMacrosPlugin: CompilerPlugin {
    let providingMacros: [any Macro.Type] = [JournalCodedMacro.self]
}
