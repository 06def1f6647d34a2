// Starts the real servers once for the whole test run and hands their URLs to the tests
// (inject('services')) and to processes they spawn (process.env). With MESKIT_SERVICES_DIR
// set to a run started by `npm run services -- start`, that run is reused and left running.
import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { attachServices, startServices, type ServiceUrls, type Services } from '@meskit/services';

declare module 'vitest' {
  export interface ProvidedContext {
    services: ServiceUrls;
  }
}

let owned: Services | undefined;

export async function setup(project: TestProject): Promise<void> {
  const reuse = process.env['MESKIT_SERVICES_DIR'];
  let services: Services;
  if (reuse && existsSync(reuse)) {
    services = attachServices(reuse);
  } else {
    owned = await startServices({ log: (line) => console.log(`[services] ${line}`) });
    services = owned;
  }
  const urls = services.urls;
  Object.assign(process.env, urls);
  project.provide('services', urls);
}

export async function teardown(): Promise<void> {
  await owned?.close();
}
