export { systemClock, ManualClock, seededRandom, type Clock } from '../core/clock.js';
export { Link, SharedUplink, type LinkSpec, type FaultSpec, type Direction, type FlowSink, type ShapedFlow, type UplinkShares } from './shaper.js';
export { startShapedProxy, type StartedProxy, type ProxyStats, type ShapedProxyOptions } from './proxy.js';
export { shapedFetch, type ShapedFetch } from './shaped-fetch.js';
export { ShapedRoutes, type ShapedRouteSpec, type RouteStats } from './shaped-socket.js';
