// Laterna WebXR viewer (/xr): the live picture in VR (a dim gallery before a large curved screen, or inside a
// 180/360 dome), in AR (a framed canvas hung on a wall or stood on the floor via hit test), or, without WebXR,
// as a magic window that pans with the phone (or a drag) or as plain video. The prompt box is the visitor
// page's (prompt-box.js). The picture: picture.js (WebRTC, else the JPEG websocket). docs/xr.md.
import * as THREE from "/xr/vendor/three/three-r187.module.min.js";
import { startPromptBox } from "/static/prompt-box.js";
import { LivePicture } from "/xr/picture.js";

const EYE_HEIGHT = 1.6; // metres: the screen's centre, and the magic window's eye
const SCREEN_RADIUS = 4.5; // the curved screen is part of a cylinder around the visitor
const SCREEN_WIDTH = 5.2; // along the curve
const AR_WIDTH = 0.9; // the framed canvas in AR
const FRAME = 0.05; // its frame's width

const $ = (id) => document.getElementById(id);
const ui = {
  view: $("view"),
  flatView: $("flat-view"),
  overlay: $("overlay"),
  enterVr: $("enter-vr"),
  enterAr: $("enter-ar"),
  exit: $("exit-xr"),
  motion: $("motion"),
  flat: $("flat"),
  recenter: $("recenter"),
  dome: $("dome"),
  arHint: $("ar-hint"),
  via: $("via"),
  pictureState: $("picture-state"),
};

// -- renderer, camera, scene ------------------------------------------------------------------------------
const renderer = new THREE.WebGLRenderer({ antialias: true, alpha: true });
renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
renderer.setSize(window.innerWidth, window.innerHeight);
renderer.outputColorSpace = THREE.SRGBColorSpace;
renderer.xr.enabled = true;
ui.view.appendChild(renderer.domElement);

const camera = new THREE.PerspectiveCamera(70, window.innerWidth / window.innerHeight, 0.05, 100);
camera.position.set(0, EYE_HEIGHT, 0);
const scene = new THREE.Scene();
const GALLERY_BACKGROUND = new THREE.Color(0x0b0906);
scene.background = GALLERY_BACKGROUND;

// The picture's texture: a placeholder until the live picture arrives, then a video or canvas texture.
const placeholder = document.createElement("canvas");
placeholder.width = placeholder.height = 2;
placeholder.getContext("2d").fillStyle = "#1a140e";
placeholder.getContext("2d").fillRect(0, 0, 2, 2);
let texture = new THREE.CanvasTexture(placeholder);
texture.colorSpace = THREE.SRGBColorSpace;
const pictureMaterials = [];
function pictureMaterial() {
  const material = new THREE.MeshBasicMaterial({ map: texture, toneMapped: false });
  pictureMaterials.push(material);
  return material;
}

// The stage: everything of the virtual gallery, turned as a whole when the visitor recenters.
const stage = new THREE.Group();
scene.add(stage);

const gallery = new THREE.Group();
stage.add(gallery);
{
  const wall = new THREE.MeshStandardMaterial({ color: 0x1d1915, roughness: 0.95 });
  const room = new THREE.Mesh(new THREE.BoxGeometry(16, 7, 16), wall);
  room.material.side = THREE.BackSide;
  room.position.y = 3.5;
  gallery.add(room);
  const floor = new THREE.Mesh(
    new THREE.PlaneGeometry(16, 16),
    new THREE.MeshStandardMaterial({ color: 0x120f0c, roughness: 0.8 }),
  );
  floor.rotation.x = -Math.PI / 2;
  floor.position.y = 0.001;
  gallery.add(floor);
  gallery.add(new THREE.HemisphereLight(0x4a3b2a, 0x0a0806, 0.6));
  const glow = new THREE.PointLight(0xffb347, 4, 12, 1.5); // the screen's warm spill on the floor and walls
  glow.position.set(0, EYE_HEIGHT, -SCREEN_RADIUS + 0.8);
  gallery.add(glow);
}

// The curved screen: an arc of a cylinder around the visitor, centred straight ahead at eye height.
const screenArc = SCREEN_WIDTH / SCREEN_RADIUS;
const screenGeometry = new THREE.CylinderGeometry(
  SCREEN_RADIUS,
  SCREEN_RADIUS,
  1,
  64,
  1,
  true,
  Math.PI - screenArc / 2,
  screenArc,
);
{
  const uv = screenGeometry.attributes.uv; // seen from inside, the cylinder's u runs right to left: mirror it
  for (let i = 0; i < uv.count; i += 1) uv.setX(i, 1 - uv.getX(i));
}
const curvedScreen = new THREE.Mesh(screenGeometry, pictureMaterial());
curvedScreen.material.side = THREE.BackSide;
curvedScreen.position.y = EYE_HEIGHT;
gallery.add(curvedScreen);

// The caption under the screen: the prompt box's feedback ("Queued", "Now showing: ...") where a headset
// visitor can read it (the page's own text is not visible inside an immersive session).
const captionCanvas = document.createElement("canvas");
captionCanvas.width = 1024;
captionCanvas.height = 96;
const captionTexture = new THREE.CanvasTexture(captionCanvas);
captionTexture.colorSpace = THREE.SRGBColorSpace;
const caption = new THREE.Mesh(
  new THREE.PlaneGeometry(2.4, 0.225),
  new THREE.MeshBasicMaterial({ map: captionTexture, transparent: true, toneMapped: false }),
);
caption.position.set(0, 0.8, -2.2); // a plaque at waist height, tilted up to the visitor
caption.rotation.x = -0.35;
gallery.add(caption);

function writeCaption(kind, text) {
  const context = captionCanvas.getContext("2d");
  context.clearRect(0, 0, captionCanvas.width, captionCanvas.height);
  if (text) {
    context.fillStyle = "rgba(20, 15, 10, 0.8)";
    context.fillRect(0, 0, captionCanvas.width, captionCanvas.height);
    context.fillStyle = { showing: "#b9e6a0", queued: "#ffb347", declined: "#f2a28c", error: "#f2a28c" }[kind] ?? "#f7ecdc";
    context.font = "40px system-ui, sans-serif";
    context.textAlign = "center";
    context.textBaseline = "middle";
    const line = text.length > 60 ? `${text.slice(0, 59)}…` : text;
    context.fillText(line, captionCanvas.width / 2, captionCanvas.height / 2);
  }
  captionTexture.needsUpdate = true;
}

// The dome: the picture all around (360) or in front (180), for equirectangular shows.
const domes = {};
for (const [name, arc] of [
  ["360", Math.PI * 2],
  ["180", Math.PI],
]) {
  const geometry = new THREE.SphereGeometry(20, 64, 32, -Math.PI / 2 - arc / 2, arc);
  geometry.scale(-1, 1, 1); // seen from inside
  const dome = new THREE.Mesh(geometry, pictureMaterial());
  dome.position.y = EYE_HEIGHT;
  dome.visible = false;
  stage.add(dome);
  domes[name] = dome;
}

// AR: the reticle where the hit test meets a surface, and the framed canvas the visitor places.
const reticle = new THREE.Mesh(
  new THREE.RingGeometry(0.07, 0.09, 32).rotateX(-Math.PI / 2),
  new THREE.MeshBasicMaterial({ color: 0xffb347 }),
);
reticle.matrixAutoUpdate = false;
reticle.visible = false;
scene.add(reticle);

const canvasFrame = new THREE.Group();
const arPicture = new THREE.Mesh(new THREE.PlaneGeometry(1, 1), pictureMaterial());
canvasFrame.add(arPicture);
const frameBars = [];
{
  const wood = new THREE.MeshBasicMaterial({ color: 0x3b2a1a });
  for (let i = 0; i < 4; i += 1) {
    const bar = new THREE.Mesh(new THREE.BoxGeometry(1, 1, 0.03), wood);
    frameBars.push(bar);
    canvasFrame.add(bar);
  }
}
canvasFrame.visible = false;
scene.add(canvasFrame);

// -- the live picture ----------------------------------------------------------------------------------------
let aspect = 16 / 9;

function fitPicture(width, height) {
  aspect = width > 0 && height > 0 ? width / height : aspect;
  curvedScreen.scale.y = Math.min(SCREEN_WIDTH / aspect, 2.6); // a tall picture would reach the floor
  const w = AR_WIDTH;
  const h = AR_WIDTH / aspect;
  arPicture.scale.set(w, h, 1);
  const [top, bottom, left, right] = frameBars;
  top.scale.set(w + 2 * FRAME, FRAME, 1);
  top.position.set(0, h / 2 + FRAME / 2, 0);
  bottom.scale.copy(top.scale);
  bottom.position.set(0, -h / 2 - FRAME / 2, 0);
  left.scale.set(FRAME, h, 1);
  left.position.set(-w / 2 - FRAME / 2, 0, 0);
  right.scale.copy(left.scale);
  right.position.set(w / 2 + FRAME / 2, 0, 0);
}
fitPicture(16, 9);

function useSource(element, via) {
  const next = element instanceof HTMLVideoElement ? new THREE.VideoTexture(element) : new THREE.CanvasTexture(element);
  next.colorSpace = THREE.SRGBColorSpace;
  next.minFilter = THREE.LinearFilter;
  next.generateMipmaps = false;
  const old = texture;
  texture = next;
  for (const material of pictureMaterials) {
    material.map = texture;
    material.needsUpdate = true;
  }
  old.dispose();
  fitPicture(picture.width, picture.height);
  ui.via.textContent = `via ${via}`;
  ui.via.dataset.via = via;
  if (!ui.flatView.hidden) showFlat(true);
}

let picture = null;

// -- modes: magic window, flat, VR, AR -----------------------------------------------------------------------
let mode = "window"; // window | flat | vr | ar
let xrFrames = 0;
let hitTestSource = null;
let sampleRequests = [];

function setMode(next) {
  mode = next;
  document.body.dataset.mode = next;
  ui.exit.hidden = next !== "vr" && next !== "ar";
  ui.arHint.hidden = next !== "ar";
  ui.enterVr.disabled = ui.enterAr.disabled = next === "vr" || next === "ar";
  const inAr = next === "ar";
  scene.background = inAr ? null : GALLERY_BACKGROUND;
  stage.visible = !inAr;
  canvasFrame.visible = inAr && canvasFrame.userData.placed === true;
  reticle.visible = false;
}

function showDome(value) {
  gallery.visible = value === "screen";
  domes["180"].visible = value === "180";
  domes["360"].visible = value === "360";
}

function showFlat(on) {
  ui.flat.setAttribute("aria-pressed", String(on));
  ui.flatView.hidden = !on;
  ui.view.hidden = on;
  ui.flatView.replaceChildren(...(on && picture?.element ? [picture.element] : []));
  if (on && picture?.element instanceof HTMLVideoElement) picture.element.play().catch(() => {});
  if (mode === "window" || mode === "flat") setMode(on ? "flat" : "window");
}

// The magic window's orientation: the device's, or the visitor's drag, relative to where they recentered.
const look = { yaw: 0, pitch: 0, device: null, zero: 0 };
const euler = new THREE.Euler();
const screenTurn = new THREE.Quaternion();
const fromPortrait = new THREE.Quaternion(-Math.sqrt(0.5), 0, 0, Math.sqrt(0.5)); // camera looks out of the back
const zAxis = new THREE.Vector3(0, 0, 1);
const yAxis = new THREE.Vector3(0, 1, 0);
const yawOffset = new THREE.Quaternion();

function onDeviceOrientation(event) {
  if (event.alpha === null) return;
  look.device = event;
}

function orientWindowCamera() {
  if (look.device) {
    const d = THREE.MathUtils.DEG2RAD;
    const orientation = (screen.orientation?.angle ?? window.orientation ?? 0) * d;
    euler.set(look.device.beta * d, look.device.alpha * d, -look.device.gamma * d, "YXZ");
    camera.quaternion.setFromEuler(euler).multiply(fromPortrait);
    camera.quaternion.multiply(screenTurn.setFromAxisAngle(zAxis, -orientation));
    camera.quaternion.premultiply(yawOffset.setFromAxisAngle(yAxis, -look.zero));
  } else {
    euler.set(look.pitch, look.yaw, 0, "YXZ");
    camera.quaternion.setFromEuler(euler);
  }
}

function recenter() {
  if (mode === "vr") {
    // Turn and move the gallery so the screen is straight ahead of where the visitor now stands and looks.
    const xrCamera = renderer.xr.getCamera();
    const forward = new THREE.Vector3();
    xrCamera.getWorldDirection(forward);
    stage.rotation.y = Math.atan2(-forward.x, -forward.z);
    const position = new THREE.Vector3().setFromMatrixPosition(xrCamera.matrixWorld);
    stage.position.set(position.x, stage.position.y, position.z);
  } else if (look.device) {
    look.zero = THREE.MathUtils.DEG2RAD * look.device.alpha;
  } else {
    look.yaw = 0;
    look.pitch = 0;
  }
}

// Drag to look around on a desktop (and on phones without motion sensors).
{
  let last = null;
  ui.view.addEventListener("pointerdown", (event) => {
    last = [event.clientX, event.clientY];
    ui.view.setPointerCapture(event.pointerId);
  });
  ui.view.addEventListener("pointermove", (event) => {
    if (!last || look.device) return;
    const scale = (camera.fov * THREE.MathUtils.DEG2RAD) / window.innerHeight;
    look.yaw += (event.clientX - last[0]) * scale;
    look.pitch = THREE.MathUtils.clamp(look.pitch + (event.clientY - last[1]) * scale, -1.2, 1.2);
    last = [event.clientX, event.clientY];
  });
  ui.view.addEventListener("pointerup", () => {
    last = null;
  });
}

async function enableMotion() {
  try {
    if (typeof DeviceOrientationEvent?.requestPermission === "function") {
      if ((await DeviceOrientationEvent.requestPermission()) !== "granted") return;
    }
  } catch {
    return;
  }
  window.addEventListener("deviceorientation", onDeviceOrientation);
  ui.motion.hidden = true;
}

// -- immersive sessions --------------------------------------------------------------------------------------
async function enterVr() {
  const session = await navigator.xr.requestSession("immersive-vr", { optionalFeatures: ["local-floor"] });
  // Standing height comes from the headset's floor; without one (a phone viewer) the eyes are the origin.
  const floor = !session.enabledFeatures || session.enabledFeatures.includes("local-floor");
  renderer.xr.setReferenceSpaceType(floor ? "local-floor" : "local");
  await startSession(session, "vr");
  stage.position.y = floor ? 0 : -EYE_HEIGHT;
  const space = renderer.xr.getReferenceSpace();
  space?.addEventListener?.("reset", () => recenter()); // the headset's own recenter (e.g. holding the Meta button)
  session.addEventListener("squeeze", () => recenter()); // a grip squeeze recenters too
}

async function enterAr() {
  const session = await navigator.xr.requestSession("immersive-ar", {
    optionalFeatures: ["hit-test", "dom-overlay", "local-floor"],
    domOverlay: { root: ui.overlay },
  });
  renderer.xr.setReferenceSpaceType("local");
  await startSession(session, "ar");
  $("prompt-panel").open = false; // the camera's view first; the prompt box is one tap away
  try {
    const viewer = await session.requestReferenceSpace("viewer");
    hitTestSource = await session.requestHitTestSource({ space: viewer });
  } catch (error) {
    hitTestSource = null; // no hit test here: a tap places the picture a little way ahead instead
    console.info(`Laterna: no hit test (${error.message}); the picture is placed ahead of you`);
  }
  session.addEventListener("select", placeCanvas);
}

async function startSession(session, name) {
  session.addEventListener("end", () => {
    hitTestSource = null;
    stage.position.set(0, 0, 0);
    stage.rotation.set(0, 0, 0);
    setMode("window");
    camera.position.set(0, EYE_HEIGHT, 0);
    onResize();
  });
  await renderer.xr.setSession(session);
  setMode(name);
}

const placeAt = new THREE.Vector3();
const normal = new THREE.Vector3();
const toViewer = new THREE.Vector3();

function placeCanvas() {
  const xrCamera = renderer.xr.getCamera();
  const viewer = new THREE.Vector3().setFromMatrixPosition(xrCamera.matrixWorld);
  if (reticle.visible) {
    placeAt.setFromMatrixPosition(reticle.matrix);
    normal.set(0, 1, 0).transformDirection(reticle.matrix); // a hit pose's y axis is the surface's normal
    if (Math.abs(normal.y) > 0.7) {
      // floor or table: stand the canvas upright on it, facing the visitor
      canvasFrame.position.copy(placeAt).add(new THREE.Vector3(0, AR_WIDTH / aspect / 2 + FRAME, 0));
      toViewer.set(viewer.x, canvasFrame.position.y, viewer.z);
      canvasFrame.lookAt(toViewer);
    } else {
      // a wall: hang it flat against the wall, upright
      canvasFrame.position.copy(placeAt).addScaledVector(normal, 0.02);
      canvasFrame.lookAt(placeAt.clone().add(normal));
    }
  } else {
    const forward = new THREE.Vector3();
    xrCamera.getWorldDirection(forward);
    canvasFrame.position.copy(viewer).addScaledVector(forward, 1.5);
    canvasFrame.lookAt(viewer);
  }
  canvasFrame.userData.placed = true;
  canvasFrame.visible = true;
  ui.arHint.textContent = "Tap again to move the picture.";
}

// -- the frame loop ------------------------------------------------------------------------------------------
const readback = new Uint8Array(8 * 8 * 4);

function sampleCentre() {
  // The mean colour of an 8x8 block at the centre of the (first) view: what the visitor looks straight at.
  const gl = renderer.getContext();
  let x = gl.drawingBufferWidth / 2;
  let y = gl.drawingBufferHeight / 2;
  if (renderer.xr.isPresenting) {
    const view = renderer.xr.getCamera().cameras[0];
    if (view?.viewport) {
      x = view.viewport.x + view.viewport.z / 2;
      y = view.viewport.y + view.viewport.w / 2;
    }
  }
  gl.readPixels(Math.floor(x) - 4, Math.floor(y) - 4, 8, 8, gl.RGBA, gl.UNSIGNED_BYTE, readback);
  const mean = [0, 0, 0, 0];
  for (let i = 0; i < readback.length; i += 4) for (let c = 0; c < 4; c += 1) mean[c] += readback[i + c] / 64;
  return mean.map(Math.round);
}

function render(time, frame) {
  if (frame) {
    xrFrames += 1;
    if (hitTestSource) {
      const hits = frame.getHitTestResults(hitTestSource);
      const pose = hits.length ? hits[0].getPose(renderer.xr.getReferenceSpace()) : null;
      reticle.visible = pose !== null && pose !== undefined;
      if (reticle.visible) reticle.matrix.fromArray(pose.transform.matrix);
    }
  } else if (mode === "window") {
    orientWindowCamera();
  }
  if (mode === "flat") return;
  renderer.render(scene, camera);
  if (sampleRequests.length) {
    const colour = sampleCentre();
    for (const resolve of sampleRequests.splice(0)) resolve(colour);
  }
}

function onResize() {
  if (renderer.xr.isPresenting) return;
  camera.aspect = window.innerWidth / window.innerHeight;
  camera.updateProjectionMatrix();
  renderer.setSize(window.innerWidth, window.innerHeight);
}

// What the page is doing, for its own tests and for anyone debugging a headset from a laptop's DevTools.
window.laternaXR = {
  state: () => ({
    mode,
    via: picture?.via ?? "none",
    frames: picture?.frames ?? 0,
    xrFrames,
    presenting: renderer.xr.isPresenting,
    hitTest: hitTestSource !== null,
    reticle: reticle.visible,
    reticleAt: reticle.visible
      ? new THREE.Vector3().setFromMatrixPosition(reticle.matrix).toArray().map((v) => +v.toFixed(3))
      : null,
    placed: canvasFrame.userData.placed === true,
    placedAt: canvasFrame.userData.placed ? canvasFrame.position.toArray().map((v) => +v.toFixed(3)) : null,
    placedFacing: canvasFrame.userData.placed
      ? new THREE.Vector3(0, 0, 1).applyQuaternion(canvasFrame.quaternion).toArray().map((v) => +v.toFixed(3))
      : null,
    enterVr: !ui.enterVr.hidden,
    enterAr: !ui.enterAr.hidden,
  }),
  leave: () => renderer.xr.getSession()?.end(), // what the headset's own menu button does
  sample: () => new Promise((resolve) => sampleRequests.push(resolve)), // [r, g, b, a] after the next frame
};

// -- start ----------------------------------------------------------------------------------------------------
async function offered() {
  try {
    const reply = await fetch("/xr/offer.json", { cache: "no-store" });
    if (reply.ok) return await reply.json();
  } catch {
    // the show is restarting: the page retries below
  }
  return null;
}

async function startPicture() {
  const offer = await offered();
  if (!offer) {
    ui.pictureState.textContent = "The show is not answering. Trying again…";
    setTimeout(startPicture, 3000);
    return;
  }
  if (typeof offer.title === "string" && offer.title) {
    document.title = `${offer.title} in VR and AR`;
    $("title").textContent = offer.title;
  }
  picture = new LivePicture(offer, {
    kind: "xr",
    onsource: useSource,
    onframe: () => {
      texture.needsUpdate = true;
    },
    onstate: (text) => {
      ui.pictureState.textContent = text;
    },
  });
  await picture.start();
}

async function offerSessions() {
  // WebXR (like motion sensors) exists only on secure pages: https, or this machine itself.
  $("secure-hint").hidden = window.isSecureContext;
  if (!navigator.xr) return;
  const [vr, ar] = await Promise.all(
    ["immersive-vr", "immersive-ar"].map((kind) => navigator.xr.isSessionSupported(kind).catch(() => false)),
  );
  ui.enterVr.hidden = !vr;
  ui.enterAr.hidden = !ar;
}

function failed(what) {
  return (error) => {
    ui.pictureState.textContent = `${what} did not start: ${error.message}`;
    console.warn(`Laterna: ${what} did not start`, error);
  };
}

ui.enterVr.addEventListener("click", () => enterVr().catch(failed("VR")));
ui.enterAr.addEventListener("click", () => enterAr().catch(failed("AR")));
ui.exit.addEventListener("click", () => renderer.xr.getSession()?.end());
ui.recenter.addEventListener("click", recenter);
ui.flat.addEventListener("click", () => showFlat(ui.flatView.hidden));
ui.dome.addEventListener("change", () => showDome(ui.dome.value));
ui.motion.addEventListener("click", enableMotion);
window.addEventListener("resize", onResize);

const query = new URLSearchParams(location.search);
if (["180", "360"].includes(query.get("dome"))) {
  ui.dome.value = query.get("dome");
  showDome(ui.dome.value);
}
if ("DeviceOrientationEvent" in window && (navigator.maxTouchPoints > 0 || query.has("motion"))) {
  if (typeof DeviceOrientationEvent.requestPermission === "function") ui.motion.hidden = false; // iOS asks first
  else enableMotion();
}

startPromptBox({ onFeedback: writeCaption });
renderer.setAnimationLoop(render);
offerSessions();
startPicture();
if (query.get("view") === "flat") showFlat(true);
