/** Default images of the Docker-based drivers, here so that `doctor` can name them without loading a driver. */
export const DEFAULT_K3S_IMAGE = 'rancher/k3s:v1.31.2-k3s1';
