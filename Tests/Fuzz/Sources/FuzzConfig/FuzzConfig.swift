import FuzzSupport

@testable import Config

/// `MesherConfig.parse` on arbitrary text (`mesher.yaml` is read as UTF-8). An error points at a line of the
/// file, and parsing is deterministic.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    guard let text = String(validating: bytes, as: UTF8.self) else { return 0 }
    do {
        let config = try MesherConfig.parse(text)
        invariant((try? MesherConfig.parse(text)) == config, "parsing twice gives two configs")
    } catch {
        if let line = error.line {
            let lines = text.lastLineNumber
            invariant((1...lines).contains(line), "error on line \(line) of a \(lines)-line file: \(error)")
        }
    }
    return 0
}
