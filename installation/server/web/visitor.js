// Laterna visitor page: the prompt box (prompt-box.js, shared with the WebXR viewer) is the whole page.
import { startPromptBox } from "./prompt-box.js";

startPromptBox();
