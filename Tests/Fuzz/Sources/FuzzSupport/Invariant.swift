/// Stops the fuzzer (libFuzzer reports the deadly signal and saves the input) when an invariant breaks.
/// Unlike `precondition`, the message is printed in release builds too.
public func invariant(
    _ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #fileID,
    line: UInt = #line
) {
    if !condition() { fatalError("invariant: \(message())", file: file, line: line) }
}
