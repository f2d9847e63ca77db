export { ScheduleError } from "./errors.js";
