/**
 * The built-in framers and their Web Streams faces. Re-exported by the root `mod.ts`.
 * @module
 */

export { raw, type RawOptions } from "./raw.ts";
export { lines, type LinesOptions } from "./lines.ts";
export { delimited, type DelimitedOptions } from "./delimited.ts";
export {
  type LengthFieldSize,
  lengthPrefixed,
  type LengthPrefixedOptions,
} from "./length_prefixed.ts";
export { fixed, type FixedOptions } from "./fixed.ts";
export { decoderStream, type DecoderStreamOptions, encoderStream } from "./streams.ts";
