// Entry point: read the page's boot data (store, experience, role, API base) and mount.
import { createRoot } from "react-dom/client";
import "@xyflow/react/dist/style.css";
import "./styles.css";
import { App } from "./App";

const boot = JSON.parse(document.getElementById("builder-boot").textContent);
createRoot(document.getElementById("builder-root")).render(<App boot={boot} />);
