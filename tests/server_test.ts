// serve()/connect() over the runtime's native adapter and over the in-memory adapter.
import { nativeAdapter } from "./_helpers.ts";
import { runServerCases } from "./_server_cases.ts";

runServerCases(nativeAdapter());
runServerCases("memory");
